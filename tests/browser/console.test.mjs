// The advertiser console (/console/) in headless Chromium, against a real statusd and Redis.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { advertiser, approve, console_, eventually, friends, jpeg, launch, ok, pauseAll, runningCampaign, screenshot, uniq } from "./harness.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await pauseAll();
});

/** Uploads a creative through the page's form. */
async function upload(page, { headline = "Fresh bread daily", url = "https://bakery.example.com/", width = 1600, height = 900 } = {}) {
  await page.locator("#upload-file").setInputFiles({ name: "shop.jpg", mimeType: "image/jpeg", buffer: await jpeg(browser, width, height, "#b45309") });
  await page.locator("#upload-headline").fill(headline);
  await page.locator("#upload-cta-url").fill(url);
  await page.locator("#upload-form button[type=submit]").click();
}

/** Uploads a creative through the page, has it approved, and opens the campaigns tab on a fresh
 * load; answers the advertiser's creatives. */
async function uploadApproved(page, shop) {
  await upload(page);
  await page.locator("#creatives li .badge.pending_review").waitFor();
  const { creatives } = await ok("GET", "/v1/creatives", shop.key);
  await approve(creatives[0].id);
  await page.reload();
  await page.locator("#console").waitFor();
  await page.locator('[data-tab="campaigns"]').click();
  return creatives;
}

test("an advertiser uploads a creative and sees the crop viewers will see, waiting for review", async () => {
  const shop = await advertiser();
  const page = await console_(browser, shop.key);
  assert.equal(await page.locator("#who").textContent(), shop.name);
  await upload(page);
  await page.locator("#preview").waitFor();
  const normalised = page.locator("#preview-normalised");
  await eventually(
    async () => (await normalised.evaluate((img) => [img.naturalWidth, img.naturalHeight])).join("x") === "1080x1920",
    "the normalised 1080×1920 image",
  );
  assert.equal(await page.locator("#preview-card-headline").textContent(), "Fresh bread daily");
  assert.equal(await page.locator("#preview-card-name").textContent(), shop.name);
  await page.locator("#creatives li .badge.pending_review").waitFor();
  const { creatives } = await ok("GET", "/v1/creatives", shop.key);
  assert.deepEqual(creatives.map((c) => [c.headline, c.status]), [["Fresh bread daily", "pending_review"]]);
});

test("a bad field's error lands beside that field, from the page's checks and from the server's", async () => {
  const shop = await advertiser();
  const page = await console_(browser, shop.key);
  await upload(page, { headline: "" });
  assert.equal(await page.locator('#upload-form .field-error[data-field="headline"]').textContent(), "1–40 characters");
  assert.equal((await ok("GET", "/v1/creatives", shop.key)).creatives.length, 0, "nothing was sent");

  await uploadApproved(page, shop);
  await fillCampaign(page, { countries: "XX" });
  await page.locator("#campaign-form button[type=submit]").click();
  const error = page.locator('#campaign-form .field-error[data-field="targeting.countries"]');
  await error.waitFor();
  assert.match(await error.textContent(), /ISO 3166/);
  assert.equal((await ok("GET", "/v1/campaigns", shop.key)).campaigns.length, 0, "nothing was created");
});

/** Fills the campaign form with a campaign that runs from an hour ago for 30 days. */
async function fillCampaign(page, { name = "Winter bread", countries = "" } = {}) {
  await page.locator("#c-name").fill(name);
  await page.locator("#c-creatives input").first().check();
  await page.locator("#c-countries").fill(countries);
  await page.locator("#c-bid").fill("5");
  await page.locator("#c-budget").fill("500");
  const local = (ms) => {
    const d = new Date(ms);
    return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  };
  await page.locator("#c-start").fill(local(Date.now() - 3_600_000));
  await page.locator("#c-end").fill(local(Date.now() + 30 * 86_400_000));
}

test("a campaign is created, paused and resumed", async () => {
  const shop = await advertiser();
  const page = await console_(browser, shop.key);
  const creatives = await uploadApproved(page, shop);
  await fillCampaign(page);
  await page.locator("#campaign-form button[type=submit]").click();
  const row = page.locator("#campaigns li", { hasText: "Winter bread" });
  await row.locator(".badge.active").waitFor();
  const [campaign] = (await ok("GET", "/v1/campaigns", shop.key)).campaigns;
  assert.equal(campaign.bid_cpm_micros, 5_000_000);
  assert.deepEqual(campaign.creative_ids, [creatives[0].id]);

  await row.locator("button", { hasText: "Pause" }).click();
  await row.locator(".badge.paused").waitFor();
  assert.equal((await ok("GET", `/v1/campaigns/${campaign.id}`, shop.key)).status, "paused");
  await row.locator("button", { hasText: "Resume" }).click();
  await row.locator(".badge.active").waitFor();
  assert.equal((await ok("GET", `/v1/campaigns/${campaign.id}`, shop.key)).status, "active");
});

test("after impressions the report's chart and totals show them, and the CSV downloads", async () => {
  const [alice, bob, carol, dave] = ["alice", "bob", "carol", "dave"].map(uniq);
  const tokens = await friends(alice, bob, carol, dave);
  for (const author of [bob, carol, dave]) await ok("POST", "/v1/stories", tokens[author], { text: `Hi from ${author}` });
  const shop = await runningCampaign(browser, tokens[alice]);
  const feed = await ok("GET", "/v1/feed", tokens[alice]);
  const ad = feed.items.find((i) => i.type === "ad" && i.ad.advertiser.id === shop.id).ad;
  await ok("POST", `/v1/ads/${ad.token}/impression`, tokens[alice]);
  await ok("POST", `/v1/ads/${ad.token}/click`, tokens[alice]);

  const page = await console_(browser, shop.key, { width: 1280, height: 800 });
  await page.locator('[data-tab="report"]').click();
  await page.locator('#totals [data-figure="Impressions"] dd', { hasText: "1" }).waitFor();
  assert.equal(await page.locator('#totals [data-figure="Clicks"] dd').textContent(), "1");
  assert.equal(await page.locator('#totals [data-figure="CTR"] dd').textContent(), "100.00 %");
  // One impression costs a fraction of a cent: shown as it is, not rounded to 0.00.
  const spent = (await ok("GET", `/v1/campaigns/${shop.campaign}/report`, shop.key)).total.spend_micros;
  assert.ok(spent > 0 && spent < 10_000, `${spent}`);
  const shown = await page.locator('#totals [data-figure="Spend"] dd').textContent();
  assert.equal(Math.round(Number(shown) * 1_000_000), spent, shown);
  assert.equal(await page.locator("#chart canvas").count(), 1, "a chart is drawn");
  await page.locator("#r-granularity").selectOption("hour");
  await page.locator("#chart canvas").waitFor();

  const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#csv").click()]);
  const csv = readFileSync(await download.path(), "utf8");
  const [header, ...rows] = csv.trim().split("\n");
  assert.ok(header.split(",").includes("impressions"), header);
  const at = header.split(",").indexOf("impressions");
  assert.equal(rows.reduce((sum, row) => sum + Number(row.split(",")[at]), 0), 1, csv);
  await screenshot(page, "console-report-1280x800");
  await page.setViewportSize({ width: 390, height: 844 });
  await page.locator('[data-tab="campaigns"]').click();
  await screenshot(page, "console-campaigns-390x844");
});

test("the console's files, its chart library included, stay small", async () => {
  let total = 0;
  for (const path of ["/console/", "/console/console.js", "/console/console.css", "/vendor/uplot/uPlot.iife.min.js", "/vendor/uplot/uPlot.min.css"]) {
    const response = await fetch(`${process.env.STATUSD_BASE}${path}`);
    assert.equal(response.status, 200, path);
    total += (await response.arrayBuffer()).byteLength;
  }
  assert.ok(total < 300 * 1024, `${total} bytes`);
});
