// The browser test harness, for every page statusd serves (the viewer, the console, the desk):
// a statusd on a Redis of its own, started by scripts/browser-tests.sh (its address in
// STATUSD_BASE), helpers that seed it through the public API, and headless Chromium (Debian's
// /usr/bin/chromium) driven by playwright-core.

import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

export const BASE = process.env.STATUSD_BASE;
const ADMIN = process.env.STATUSD_ADMIN_TOKEN;
const STATUSD = process.env.STATUSD_BIN;
if (!BASE || !ADMIN || !STATUSD) throw new Error("run through scripts/browser-tests.sh");

let counter = 0;
/** A user id no other test uses, so that tests sharing one statusd do not see each other. */
export function uniq(name) {
  counter += 1;
  return `${name}-${process.pid}-${counter}`;
}

/** A user token, from `statusd token` with the server's secret. */
export function userToken(user) {
  return execFileSync(STATUSD, ["token", "--user", user], { env: process.env }).toString().trim();
}

/** Calls the API; answers { status, body } (the body parsed when it is JSON). */
export async function call(method, path, token, body) {
  const headers = { Authorization: `Bearer ${token}` };
  let payload = body;
  if (body !== undefined && !(body instanceof FormData)) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(BASE + path, { method, headers, body: payload });
  const text = await response.text();
  const type = response.headers.get("content-type") || "";
  return { status: response.status, body: type.includes("json") && text ? JSON.parse(text) : text };
}

/** Like `call`, but a status other than 2xx fails the test with the answer. */
export async function ok(method, path, token, body) {
  const answer = await call(method, path, token, body);
  if (answer.status < 200 || answer.status > 299) {
    throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
  }
  return answer.body;
}

/** Users who all have each other as contacts; answers their tokens by name. */
export async function friends(...users) {
  const tokens = Object.fromEntries(users.map((u) => [u, userToken(u)]));
  for (const user of users) {
    await ok("PUT", "/v1/me/contacts", tokens[user], { contacts: users.filter((u) => u !== user) });
  }
  return tokens;
}

/** A JPEG of `width`×`height` in one colour, drawn by the browser itself. */
export async function jpeg(browser, width, height, colour) {
  const page = await browser.newPage();
  const base64 = await page.evaluate(
    async ([w, h, c]) => {
      const canvas = new OffscreenCanvas(w, h);
      const context = canvas.getContext("2d");
      context.fillStyle = c;
      context.fillRect(0, 0, w, h);
      const bytes = new Uint8Array(await (await canvas.convertToBlob({ type: "image/jpeg" })).arrayBuffer());
      let binary = "";
      for (const b of bytes) binary += String.fromCharCode(b);
      return btoa(binary);
    },
    [width, height, colour],
  );
  await page.close();
  return Buffer.from(base64, "base64");
}

/** The API keys of the advertisers the harness made. */
const keys = [];

/** A new advertiser account; answers { id, key, name }. */
export async function advertiser(name = uniq("Shop")) {
  const account = await ok("POST", "/v1/admin/advertisers", ADMIN, { name });
  keys.push(account.api_key);
  return { id: account.id, key: account.api_key, name };
}

/** Uploads a creative through the API (a JPEG the browser draws); answers the creative. */
export async function creative(browser, key, { headline = "Fresh bread daily", url = "https://bakery.example.com/", colour = "#c2410c" } = {}) {
  const form = new FormData();
  form.append("image", new Blob([await jpeg(browser, 540, 960, colour)], { type: "image/jpeg" }), "ad.jpg");
  form.append("headline", headline);
  form.append("cta_label", "Shop now");
  form.append("cta_url", url);
  return ok("POST", "/v1/creatives", key, form);
}

/** Approves a creative, as the operator's review would. */
export function approve(creativeId) {
  return ok("POST", `/v1/admin/creatives/${creativeId}/review`, ADMIN, { decision: "approve" });
}

/** The console, phone-sized unless told, signed in with an advertiser's API key through its
 * sign-in form (a key never goes in a URL). */
export async function console_(browser, key, viewport = { width: 390, height: 844 }) {
  const page = await browser.newPage({ viewport, acceptDownloads: true });
  await page.goto(`${BASE}/console/`);
  await page.locator("#signin-key").fill(key);
  await page.locator("#signin-form button[type=submit]").click();
  await page.locator("#console").waitFor();
  return page;
}

/** The review desk, wide unless told, signed in through its form with the admin token or
 * `token`; answers the page (signed in or, for a token the API refuses, at its sign-in). */
export async function desk(browser, { token = ADMIN, viewport = { width: 1280, height: 800 } } = {}) {
  const context = await browser.newContext({ viewport });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: BASE });
  const page = await context.newPage();
  await page.goto(`${BASE}/console/admin/`);
  await page.locator("#signin-token").fill(token);
  await page.locator("#signin-form button[type=submit]").click();
  await page.locator("#desk:not([hidden]), #signin-error:not(:empty)").first().waitFor();
  return page;
}

/** Pauses every campaign of every advertiser this test file made (through the API or a page).
 * Each file runs in a process of its own: each calls this when it ends (`after`), so that no
 * campaign of one file competes for the next file's ad slots. */
export async function pauseAll() {
  for (const key of keys) {
    const own = await call("GET", "/v1/campaigns?limit=100", key);
    if (own.status === 401) continue; // a key a test rotated away
    for (const c of own.body.campaigns) {
      if (c.status === "active" || c.status === "scheduled") await ok("PATCH", `/v1/campaigns/${c.id}`, key, { status: "paused" });
    }
  }
}

/** An advertiser with an approved creative and a campaign running for anyone, the only one
 * running (those of earlier tests are paused first, so that this one gets the slot); waits until
 * `viewerToken`'s feed carries its ad. Answers { id, key, campaign, name }. */
export async function runningCampaign(browser, viewerToken) {
  await pauseAll();
  const { id, key, name } = await advertiser();
  const account = { id, api_key: key };
  const { id: creativeId } = await creative(browser, key);
  await approve(creativeId);
  const now = Date.now();
  const campaign = await ok("POST", "/v1/campaigns", account.api_key, {
    name: "Bread",
    creative_ids: [creativeId],
    bid_cpm_micros: 5_000_000,
    budget_micros: 1_000_000_000,
    start_at: new Date(now - 3_600_000).toISOString(),
    end_at: new Date(now + 30 * 86_400_000).toISOString(),
    frequency_cap: { impressions: 1000, per_seconds: 60 },
    pacing: "asap",
  });
  await eventually(async () => {
    const feed = await ok("GET", "/v1/feed?limit=20", viewerToken);
    return feed.items.some((item) => item.type === "ad" && item.ad.advertiser.id === account.id);
  }, "the campaign's ad in the feed");
  return { id: account.id, key: account.api_key, campaign: campaign.id, name };
}

/** Waits (up to 10 s) for `check` to answer true. */
export async function eventually(check, what) {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
}

/** A phone-sized page (390×844) signed in to `path` (a page of statusd) with `token`, through
 * the sign-in link's fragment. */
export async function signedIn(browser, path, token, viewport = { width: 390, height: 844 }) {
  const page = await browser.newPage({ viewport });
  const dialogs = [];
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    dialog.dismiss();
  });
  page.dialogs = dialogs;
  await page.goto(`${BASE}${path}#token=${encodeURIComponent(token)}`);
  return page;
}

/** Saves a screenshot: under target/screenshots/, or under docs/ (which the README shows) when
 * STATUSD_SCREENSHOTS=docs, so that a test run does not change the repository unasked. */
export async function screenshot(page, name) {
  const dir = process.env.STATUSD_SCREENSHOTS === "docs" ? "../../docs/" : "../../target/screenshots/";
  const url = new URL(dir, import.meta.url);
  mkdirSync(url, { recursive: true });
  await page.screenshot({ path: new URL(`${name}.png`, url).pathname });
}
