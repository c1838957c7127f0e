// The story viewer (/viewer/) in headless Chromium, against a real statusd and Redis.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { call, eventually, friends, jpeg, launch, ok, pauseAll, runningCampaign, screenshot, signedIn, uniq } from "./harness.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await pauseAll();
});

/** Opens the player on `author`'s entry in the tray. */
async function openAuthor(page, author) {
  await page.locator(`#tray li[data-author="${author}"] button`).click();
  await page.locator("#player").waitFor({ state: "visible" });
}

/** Taps forward until the player shows an ad card (at most `taps` times). */
async function tapToAd(page, taps = 12) {
  for (let i = 0; i < taps; i += 1) {
    if (await page.locator("#player-who .sponsored").isVisible()) return;
    await page.locator("#tap-next").click();
  }
  assert.fail("no ad card between the stories");
}

test("alice taps through bob's stories, which turn seen in the tray and in the API", async () => {
  const [alice, bob] = [uniq("alice"), uniq("bob")];
  const tokens = await friends(alice, bob);
  for (const text of ["Morning run 🏃", "Coffee time"]) await ok("POST", "/v1/stories", tokens[bob], { text });
  const page = await signedIn(browser, "/viewer/", tokens[alice]);
  const entry = page.locator(`#tray li[data-author="${bob}"]`);
  await entry.waitFor();
  assert.equal(await entry.getAttribute("class"), "unseen");
  assert.equal(new URL(page.url()).hash, "", "the token left the address bar");

  await openAuthor(page, bob);
  await page.locator("#stage .text-story", { hasText: "Morning run" }).waitFor();
  await page.locator("#tap-next").click();
  await page.locator("#stage .text-story", { hasText: "Coffee time" }).waitFor();
  await page.keyboard.press("ArrowLeft");
  await page.locator("#stage .text-story", { hasText: "Morning run" }).waitFor();
  await page.keyboard.press("ArrowRight");
  await page.locator("#stage .text-story", { hasText: "Coffee time" }).waitFor();
  await page.keyboard.press("Escape");
  await page.locator(`#tray li[data-author="${bob}"].seen`).waitFor();

  await eventually(async () => {
    const feed = await ok("GET", "/v1/feed", tokens[alice]);
    const item = feed.items.find((i) => i.type === "author" && i.author === bob);
    return item && !item.unseen && item.stories.every((s) => s.seen);
  }, "the API to count both stories seen");
});

test("an ad card shows between authors, its impression reaches the report, and hide takes it away", async () => {
  const [alice, bob, carol, dave] = ["alice", "bob", "carol", "dave"].map(uniq);
  const tokens = await friends(alice, bob, carol, dave);
  for (const author of [bob, carol, dave]) await ok("POST", "/v1/stories", tokens[author], { text: `Hi from ${author}` });
  const shop = await runningCampaign(browser, tokens[alice]);
  const page = await signedIn(browser, "/viewer/", tokens[alice]);
  await page.locator(`#tray li[data-author="${bob}"]`).waitFor();
  const first = await page.locator("#tray li").first().getAttribute("data-author");
  await openAuthor(page, first);
  await tapToAd(page);
  assert.equal(await page.locator("#player-who").textContent(), `${shop.name}Sponsored`);
  await page.locator("#player-foot .cta", { hasText: "Shop now" }).waitFor();
  await eventually(async () => {
    const report = await ok("GET", `/v1/campaigns/${shop.campaign}/report`, shop.key);
    return report.total.impressions >= 1;
  }, "the impression in the campaign's report");

  // The advertiser's site, answered here: the machine may have no way out.
  await page.context().route("https://bakery.example.com/**", (route) => route.fulfill({ body: "The bakery" }));
  const [popup] = await Promise.all([page.waitForEvent("popup"), page.locator("#player-foot .cta").click()]);
  assert.equal(popup.url(), "https://bakery.example.com/", "the CTA opens the advertiser's URL");
  await popup.close();
  await eventually(async () => {
    const report = await ok("GET", `/v1/campaigns/${shop.campaign}/report`, shop.key);
    return report.total.clicks >= 1;
  }, "the click in the campaign's report");

  await page.locator("#ad-menu-open").click();
  await page.locator('[data-ad-action="why"]').click();
  await page.locator("#sheet-list li", { hasText: "never chosen by what you post" }).waitFor();
  await page.locator("#sheet-close").click();
  await page.locator("#ad-menu-open").click();
  await page.locator('[data-ad-action="hide"]').click();
  await page.locator("#toast", { hasText: "Ad hidden" }).waitFor();
  assert.equal(await page.locator("#player-who .sponsored").count(), 0, "the card is gone");
  const feed = await ok("GET", "/v1/feed", tokens[alice]);
  assert.ok(!feed.items.some((i) => i.type === "ad" && i.ad.advertiser.id === shop.id), "no more of its ads");
});

test("blocking an advertiser from the card's menu removes its ads", async () => {
  const [alice, bob, carol, dave] = ["alice", "bob", "carol", "dave"].map(uniq);
  const tokens = await friends(alice, bob, carol, dave);
  for (const author of [bob, carol, dave]) await ok("POST", "/v1/stories", tokens[author], { text: `Hi from ${author}` });
  const shop = await runningCampaign(browser, tokens[alice]);
  const page = await signedIn(browser, "/viewer/", tokens[alice]);
  await page.locator(`#tray li[data-author="${bob}"]`).waitFor();
  await openAuthor(page, await page.locator("#tray li").first().getAttribute("data-author"));
  await tapToAd(page);
  assert.equal(await page.locator("#player-who").textContent(), `${shop.name}Sponsored`);
  await page.locator("#ad-menu-open").click();
  await page.locator('[data-ad-action="block"]').click();
  await page.locator("#toast", { hasText: `${shop.name} is blocked` }).waitFor();
  assert.equal(await page.locator("#player-who .sponsored").count(), 0, "the card is gone");
  const preferences = await ok("GET", "/v1/me/ad-preferences", tokens[alice]);
  assert.deepEqual(preferences.blocked_advertisers.map((a) => a.id), [shop.id]);
  const feed = await ok("GET", "/v1/feed", tokens[alice]);
  assert.ok(!feed.items.some((i) => i.type === "ad" && i.ad.advertiser.id === shop.id), "no more of its ads");
});

test("further pages of the tray load as the user scrolls; muted authors are apart", async () => {
  const alice = uniq("alice");
  const authors = Array.from({ length: 22 }, () => uniq("friend"));
  const tokens = await friends(alice, ...authors);
  for (const author of authors) await ok("POST", "/v1/stories", tokens[author], { text: `Hi from ${author}` });
  const muted = authors[0];
  await ok("PUT", `/v1/me/muted/${muted}`, tokens[alice]);
  const page = await signedIn(browser, "/viewer/", tokens[alice]);
  await page.locator("#tray li").first().waitFor();
  assert.equal(await page.locator("#tray li").count(), 20, "one page first");
  await page.locator("#tray-more").scrollIntoViewIfNeeded();
  await eventually(async () => (await page.locator("#tray li").count()) === 21, "the second page");
  assert.equal(await page.locator(`#tray li[data-author="${muted}"]`).count(), 0);
  assert.equal(await page.locator(`#muted li[data-author="${muted}"]`).count(), 1);
});

test("reactions from the player, and who viewed one's own status", async () => {
  const [alice, bob] = [uniq("alice"), uniq("bob")];
  const tokens = await friends(alice, bob);
  const story = await ok("POST", "/v1/stories", tokens[alice], { text: "Guess where I am" });
  const bobs = await signedIn(browser, "/viewer/", tokens[bob]);
  await bobs.locator(`#tray li[data-author="${alice}"]`).waitFor();
  await openAuthor(bobs, alice);
  const reaction = bobs.locator("#player-foot .reaction").first();
  const emoji = await reaction.textContent();
  await reaction.click();
  await bobs.locator("#toast", { hasText: "You reacted" }).waitFor();
  const { viewers } = await ok("GET", `/v1/stories/${story.id}/viewers`, tokens[alice]);
  assert.deepEqual(viewers.map((v) => [v.user, v.reaction]), [[bob, emoji]]);

  const page = await signedIn(browser, "/viewer/", tokens[alice]);
  await page.locator("#mine li", { hasText: "Guess where I am" }).click();
  await page.locator("#sheet-list li", { hasText: `${bob} ${emoji}` }).waitFor();
});

test("a story whose text is markup shows as text and runs nothing", async () => {
  const [alice, bob] = [uniq("alice"), uniq("bob")];
  const tokens = await friends(alice, bob);
  const markup = "<img src=x onerror=alert(1)>";
  await ok("POST", "/v1/stories", tokens[bob], { text: markup });
  const page = await signedIn(browser, "/viewer/", tokens[alice]);
  await page.locator(`#tray li[data-author="${bob}"]`).waitFor();
  await openAuthor(page, bob);
  const text = page.locator("#stage .text-story");
  await text.waitFor();
  assert.equal(await text.textContent(), markup);
  assert.equal(await page.locator("#stage img").count(), 0, "no element made from the text");
  await page.waitForTimeout(300);
  assert.deepEqual(page.dialogs, [], "no script ran");
});

test("a photo story posted from the page appears in bob's viewer", async () => {
  const [alice, bob] = [uniq("alice"), uniq("bob")];
  const tokens = await friends(alice, bob);
  const page = await signedIn(browser, "/viewer/", tokens[alice]);
  await page.locator("#updates").waitFor();
  await page.locator("#compose-open").click();
  await page.locator('input[name=kind][value="photo"]').check();
  await page.locator("#compose-file").setInputFiles({
    name: "lake.jpg",
    mimeType: "image/jpeg",
    buffer: await jpeg(browser, 800, 600, "#0e7490"),
  });
  await page.locator("#compose-caption").fill("At the lake");
  await page.locator("#compose-form button[type=submit]").click();
  await page.locator("#toast", { hasText: "Status posted" }).waitFor();
  await page.locator("#mine li", { hasText: "At the lake" }).waitFor();

  const bobs = await signedIn(browser, "/viewer/", tokens[bob]);
  await bobs.locator(`#tray li[data-author="${alice}"]`).waitFor();
  await openAuthor(bobs, alice);
  const img = bobs.locator("#stage img");
  await img.waitFor();
  await eventually(async () => (await img.getAttribute("src"))?.startsWith("blob:"), "the photo to load");
  assert.equal(await bobs.locator("#stage .caption").textContent(), "At the lake");
});

test("at 360 px nothing is wider than the screen, in the tray and in a story", async () => {
  const [alice, bob] = [uniq("alice"), uniq("bob")];
  const tokens = await friends(alice, bob);
  await ok("POST", "/v1/stories", tokens[bob], { text: "A".repeat(300) });
  const page = await signedIn(browser, "/viewer/", tokens[alice], { width: 360, height: 740 });
  await page.locator(`#tray li[data-author="${bob}"]`).waitFor();
  const width = () => page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok((await width()) <= 360, `tray ${await width()} px wide`);
  await openAuthor(page, bob);
  await page.locator("#stage .text-story").waitFor();
  assert.ok((await width()) <= 360, `story ${await width()} px wide`);
});

test("the pages are served with a strict Content-Security-Policy", async () => {
  const answer = await call("GET", "/viewer/", "");
  assert.equal(answer.status, 200);
  const response = await fetch(`${process.env.STATUSD_BASE}/viewer/`);
  const csp = response.headers.get("content-security-policy");
  for (const directive of ["script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) {
    assert.ok(csp.includes(directive), `${directive} in ${csp}`);
  }
  assert.ok(!csp.includes("unsafe-inline"), csp);
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
});

test("screenshots of the viewer for the README", async () => {
  // Names a reader can read: each run has a Redis of its own, and no other test uses them.
  const [alice, bob, carol, dave] = ["maya", "leo", "sam", "zoe"];
  const tokens = await friends(alice, bob, carol, dave);
  const texts = { [bob]: "Morning run done 🏃", [carol]: "New recipe tonight 🍝", [dave]: "Concert was amazing 🎶" };
  for (const [author, text] of Object.entries(texts)) await ok("POST", "/v1/stories", tokens[author], { text, background: "#075E54" });
  for (const viewport of [{ width: 390, height: 844 }, { width: 1280, height: 800 }]) {
    const page = await signedIn(browser, "/viewer/", tokens[alice], viewport);
    await page.locator(`#tray li[data-author="${bob}"]`).waitFor();
    if (viewport.width < 600) await screenshot(page, `viewer-tray-${viewport.width}x${viewport.height}`);
    await openAuthor(page, bob);
    await page.locator("#stage .text-story").waitFor();
    await screenshot(page, `viewer-story-${viewport.width}x${viewport.height}`);
    await page.close();
  }
});
