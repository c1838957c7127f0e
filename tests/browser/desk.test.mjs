// The review desk (/console/admin/) in headless Chromium, against a real statusd and Redis.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { advertiser, call, console_, creative, desk, friends, launch, ok, pauseAll, runningCampaign, screenshot, uniq } from "./harness.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await pauseAll();
});

/** Steps through the queue with the J key until the desk shows `creativeId` (the queue is shared
 * with the other tests' creatives, oldest first). */
async function reviewOf(page, creativeId) {
  const review = page.locator("#review");
  for (let step = 0; step < 500; step += 1) {
    if ((await review.getAttribute("data-creative")) === creativeId) return;
    const before = await review.getAttribute("data-creative");
    await page.keyboard.press("j");
    await page.waitForFunction((id) => document.getElementById("review").dataset.creative !== id, before, { timeout: 2000 }).catch(() => {});
  }
  throw new Error(`${creativeId} is not in the review queue`);
}

/** Waits until a creative has left the desk's queue; answers it as its advertiser reads it. */
async function decided(page, key, creativeId) {
  await page
    .waitForFunction((id) => document.getElementById("review").dataset.creative !== id || document.getElementById("review").hidden, creativeId, { timeout: 10_000 })
    .catch(async (e) => {
      throw new Error(`${e.message}; the page says: ${await page.locator("#toast").textContent()} ${await page.locator("#queue-state").textContent()}`);
    });
  return ok("GET", `/v1/creatives/${creativeId}`, key);
}

test("an admin approves a pending creative from the keyboard, and the advertiser's console shows it approved", async () => {
  const shop = await advertiser();
  const pending = await creative(browser, shop.key, { headline: "Warm rolls", url: "https://rolls.example.org/menu?day=1" });
  const page = await desk(browser);
  await reviewOf(page, pending.id);
  assert.equal(await page.locator("#r-headline").textContent(), "Warm rolls");
  assert.equal(await page.locator("#r-advertiser").textContent(), shop.name);
  assert.equal(await page.locator("#r-cta-label").textContent(), "Shop now");
  assert.equal(await page.locator("#r-url").textContent(), "https://rolls.example.org/menu?day=1");
  assert.equal(await page.locator("#r-url mark.host").textContent(), "rolls.example.org");
  for (const image of ["#r-phone", "#r-full"]) {
    await page.waitForFunction((sel) => document.querySelector(sel).naturalWidth > 0, image);
    assert.deepEqual(await page.locator(image).evaluate((img) => [img.naturalWidth, img.naturalHeight]), [1080, 1920]);
  }
  assert.deepEqual(await page.locator("#r-full").evaluate((img) => [img.width, img.height]), [1080, 1920], "full size");
  assert.ok((await page.locator("#r-phone").evaluate((img) => img.width)) < 400, "phone size");
  await screenshot(page, "desk-review-1280x800");

  await page.keyboard.press("a");
  assert.equal((await decided(page, shop.key, pending.id)).status, "approved");
  const consolePage = await console_(browser, shop.key);
  const row = consolePage.locator(`#creatives li[data-creative="${pending.id}"]`);
  await row.locator(".badge.approved").waitFor();
});

test("a rejection's reason, typed at the desk, reaches the advertiser's console", async () => {
  const shop = await advertiser();
  const pending = await creative(browser, shop.key, { headline: "Miracle cure" });
  const page = await desk(browser);
  await reviewOf(page, pending.id);

  // Rejecting without a reason is refused in the page, and nothing is sent.
  await page.locator("#reject").click();
  assert.equal(await page.locator('#decision .field-error[data-field="reason"]').textContent(), "Say why, for the advertiser.");
  assert.equal((await ok("GET", `/v1/creatives/${pending.id}`, shop.key)).status, "pending_review");

  await page.keyboard.press("Escape");
  await page.keyboard.press("r");
  assert.equal(await page.evaluate(() => document.activeElement.id), "reason", "R goes to the reason");
  await page.keyboard.type("Health claims need proof");
  await page.keyboard.press("Enter");
  const rejected = await decided(page, shop.key, pending.id);
  assert.deepEqual([rejected.status, rejected.review_reason], ["rejected", "Health claims need proof"]);
  const consolePage = await console_(browser, shop.key);
  const row = consolePage.locator(`#creatives li[data-creative="${pending.id}"]`);
  await row.locator(".badge.rejected").waitFor();
  assert.equal(await row.locator(".error").textContent(), "Rejected: Health claims need proof");
});

test("J and K step through the queue, oldest first", async () => {
  const shop = await advertiser();
  const first = await creative(browser, shop.key, { headline: "First" });
  const second = await creative(browser, shop.key, { headline: "Second" });
  const page = await desk(browser);
  await reviewOf(page, first.id);
  await page.keyboard.press("j");
  await page.locator(`#review[data-creative="${second.id}"]`).waitFor();
  assert.equal(await page.locator("#r-headline").textContent(), "Second");
  await page.keyboard.press("k");
  await page.locator(`#review[data-creative="${first.id}"]`).waitFor();
  // Typing a reason is not a shortcut: the letters go into the field.
  await page.locator("#reason").focus();
  await page.keyboard.type("jak");
  assert.equal(await page.locator("#reason").inputValue(), "jak");
  assert.equal(await page.locator("#review").getAttribute("data-creative"), first.id);
});

test("an account is created, its key shown once, and the key works once copied", async () => {
  const page = await desk(browser);
  await page.locator('[data-tab="advertisers"]').click();
  const name = uniq("Corner café");
  await page.locator("#create-name").fill(name);
  await page.locator("#create-form button[type=submit]").click();
  await page.locator("#issued").waitFor();
  assert.match(await page.locator("#issued").textContent(), /will not be shown again/);
  assert.equal(await page.locator("#account-name").textContent(), name);
  await page.locator("#copy-key").click();
  await page.locator("#copy-state", { hasText: "Copied." }).waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.match(copied, /^sk_/);
  const own = await ok("GET", "/v1/advertiser", copied);
  assert.equal(own.name, name);
  assert.equal(own.id, await page.locator("#account-id").textContent());

  // Read again, the account shows no key.
  await page.reload();
  await page.locator("#desk").waitFor();
  await page.locator('[data-tab="advertisers"]').click();
  await page.locator("#lookup-id").fill(own.id);
  await page.locator("#lookup-form button[type=submit]").click();
  await page.locator("#account-name", { hasText: name }).waitFor();
  assert.equal(await page.locator("#issued").isHidden(), true);
  assert.equal((await page.content()).includes(copied), false, "the key is nowhere in the page");
});

test("a rotated key stops working at once, and the new one works", async () => {
  const shop = await advertiser();
  const page = await desk(browser);
  await page.locator('[data-tab="advertisers"]').click();
  await page.locator("#lookup-id").fill("no-such-advertiser");
  await page.locator("#lookup-form button[type=submit]").click();
  await page.locator('#lookup-form .field-error[data-field="id"]', { hasText: "No advertiser has this id." }).waitFor();

  await page.locator("#lookup-id").fill(shop.id);
  await page.locator("#lookup-form button[type=submit]").click();
  await page.locator("#account-name", { hasText: shop.name }).waitFor();
  await page.locator("#rotate").click();
  await page.locator("#rotate-now").click();
  await page.locator("#issued").waitFor();
  const fresh = await page.locator("#issued-key").textContent();
  assert.notEqual(fresh, shop.key);
  assert.equal((await call("GET", "/v1/advertiser", shop.key)).status, 401, "the old key stops at once");
  assert.equal((await ok("GET", "/v1/advertiser", fresh)).id, shop.id);
});

test("an advertiser key cannot open the desk: the API refuses it and the page says so", async () => {
  const shop = await advertiser();
  const refused = await call("GET", "/v1/admin/creatives", shop.key);
  assert.ok([401, 403].includes(refused.status), `${refused.status}`);
  const page = await desk(browser, { token: shop.key });
  const error = await page.locator("#signin-error").textContent();
  assert.equal(error, `The API refused this token (${refused.status}): the review desk needs the operator's admin token.`);
  assert.equal(await page.locator("#desk").isHidden(), true);
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, "the refused token is not kept");
});

test("the ad-free switch takes a user's ads away, and gives them back", async () => {
  const [alice, bob, carol, dave] = ["alice", "bob", "carol", "dave"].map(uniq);
  const tokens = await friends(alice, bob, carol, dave);
  for (const author of [bob, carol, dave]) await ok("POST", "/v1/stories", tokens[author], { text: `Hi from ${author}` });
  await runningCampaign(browser, tokens[alice]);
  const ads = async () => (await ok("GET", "/v1/feed", tokens[alice])).items.filter((i) => i.type === "ad").length;

  const page = await desk(browser, { viewport: { width: 390, height: 844 } });
  await page.locator('[data-tab="users"]').click();
  await page.locator("#user-id").fill("bad id");
  await page.locator("#user-form button[type=submit]").click();
  await page.locator('#user-form .field-error[data-field="id"]:not(:empty)').waitFor();
  assert.equal(await page.locator("#user").isHidden(), true);

  await page.locator("#user-id").fill(alice);
  await page.locator("#user-form button[type=submit]").click();
  await page.locator("#user-title", { hasText: alice }).waitFor();
  assert.equal(await page.locator("#ad-free").isChecked(), false);
  await page.locator("#ad-free").check();
  await page.locator("#ad-free-state", { hasText: "Sees no ads from now on." }).waitFor();
  assert.equal((await ok("GET", `/v1/admin/users/${alice}`, process.env.STATUSD_ADMIN_TOKEN)).ad_free, true);
  assert.equal(await ads(), 0);
  await screenshot(page, "desk-users-390x844");

  await page.locator("#ad-free").uncheck();
  await page.locator("#ad-free-state", { hasText: "Sees ads again." }).waitFor();
  assert.equal(await ads(), 1);
});
