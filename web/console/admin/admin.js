// The review desk: the operator's page, a client of statusd's public admin API and nothing else.
// Every text an advertiser wrote goes into the page as text (textContent), never as HTML.

import { $, client, el, showErrors, showTabPage, toast } from "../common.js";

const { api, imageInto, credential, signIn, signOut: forget } = client("statusd.admin-token", () => signOut());

const when = (iso) => new Date(iso).toLocaleString();

// ---- the review queue ----------------------------------------------------------------------

/** The pending creatives loaded so far, oldest first; `shown` indexes the one on screen. */
let queue = [];
let shown = 0;
let nextCursor = null;
const advertiserNames = new Map();

async function advertiserName(id) {
  if (!advertiserNames.has(id)) {
    try {
      advertiserNames.set(id, (await api("GET", `/v1/admin/advertisers/${encodeURIComponent(id)}`)).name);
    } catch {
      return id;
    }
  }
  return advertiserNames.get(id);
}

async function loadQueue() {
  const page = await api("GET", "/v1/admin/creatives?status=pending_review&limit=50");
  queue = page.creatives;
  nextCursor = page.next_cursor;
  shown = 0;
  await showCreative();
}

/** Loads the queue's next page once the reviewer nears the end of what is loaded. */
async function loadMore() {
  if (!nextCursor || shown < queue.length - 1) return;
  const page = await api("GET", `/v1/admin/creatives?status=pending_review&limit=50&cursor=${encodeURIComponent(nextCursor)}`);
  const known = new Set(queue.map((c) => c.id));
  queue.push(...page.creatives.filter((c) => !known.has(c.id)));
  nextCursor = page.next_cursor;
}

/** A URL as text, its host marked, so that a reviewer sees at once where a button leads. */
function urlWithHost(url) {
  const parts = [];
  try {
    const parsed = new URL(url);
    const at = url.indexOf(parsed.host);
    parts.push(document.createTextNode(url.slice(0, at)), el("mark", "host", parsed.host), document.createTextNode(url.slice(at + parsed.host.length)));
  } catch {
    parts.push(document.createTextNode(url));
  }
  return parts;
}

async function showCreative() {
  const creative = queue[shown];
  const more = queue.length + (nextCursor ? "+" : "");
  $("queue-state").textContent = creative ? `${shown + 1} of ${more} waiting for review, oldest first` : "Nothing waits for review.";
  $("review").hidden = !creative;
  if (!creative) return;
  $("review").dataset.creative = creative.id;
  const name = await advertiserName(creative.advertiser_id);
  $("r-advertiser").textContent = name;
  $("r-advertiser").dataset.id = creative.advertiser_id;
  $("r-card-who").textContent = name;
  $("r-headline").textContent = creative.headline;
  $("r-card-headline").textContent = creative.headline;
  $("r-cta-label").textContent = creative.cta.label;
  $("r-card-cta").textContent = creative.cta.label;
  $("r-url").replaceChildren(...urlWithHost(creative.cta.url));
  $("r-created").textContent = when(creative.created_at);
  $("reason").value = "";
  showErrors($("decision"), []);
  const media = `/v1/admin/creatives/${encodeURIComponent(creative.id)}/media`;
  await Promise.all([imageInto($("r-phone"), media), imageInto($("r-full"), media)]);
}

async function move(step) {
  shown = Math.min(Math.max(shown + step, 0), Math.max(queue.length - 1, 0));
  await loadMore();
  await showCreative();
}

async function decide(decision) {
  const creative = queue[shown];
  if (!creative) return;
  const body = { decision };
  if (decision === "reject") {
    body.reason = $("reason").value.trim();
    if (!body.reason) {
      showErrors($("decision"), [{ field: "reason", message: "Say why, for the advertiser." }]);
      $("reason").focus();
      return;
    }
  }
  try {
    await api("POST", `/v1/admin/creatives/${encodeURIComponent(creative.id)}/review`, body);
  } catch (e) {
    const unplaced = showErrors($("decision"), e.errors);
    toast(unplaced || e.message);
    return;
  }
  toast(decision === "approve" ? `Approved: ${creative.headline}` : `Rejected: ${creative.headline}`);
  queue.splice(shown, 1);
  shown = Math.min(shown, Math.max(queue.length - 1, 0));
  $("reason").blur();
  if (queue.length === 0 && nextCursor) await loadQueue();
  else {
    await loadMore();
    await showCreative();
  }
}

/** A, R, J, K for the queue; Enter and Escape inside the reason. */
function onKey(event) {
  if ($("tab-review").hidden || $("review").hidden || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.target === $("reason")) {
    if (event.key === "Escape") $("reason").blur();
    return;
  }
  if (event.target instanceof HTMLInputElement) return;
  const actions = {
    a: () => decide("approve"),
    r: () => $("reason").focus(),
    j: () => move(1),
    k: () => move(-1),
  };
  const action = actions[event.key.toLowerCase()];
  if (action) {
    event.preventDefault();
    action();
  }
}

// ---- advertiser accounts -------------------------------------------------------------------

/** Shows a key just issued: once, with a copy button; it cannot be read again. */
function showIssuedKey(account) {
  $("issued-name").textContent = account.name;
  $("issued-key").textContent = account.api_key;
  $("copy-state").textContent = "";
  $("issued").hidden = false;
}

async function createAccount(event) {
  event.preventDefault();
  const name = $("create-name").value.trim();
  if (!name) return void showErrors($("create-form"), [{ field: "name", message: "A name, as viewers will see it." }]);
  try {
    const account = await api("POST", "/v1/admin/advertisers", { name });
    showErrors($("create-form"), []);
    $("create-name").value = "";
    showIssuedKey(account);
    showAccount(account);
  } catch (e) {
    toast(showErrors($("create-form"), e.errors) || e.message);
  }
}

function showAccount(account) {
  $("account-name").textContent = account.name;
  $("account-id").textContent = account.id;
  $("account-created").textContent = when(account.created_at);
  $("account").dataset.id = account.id;
  $("rotate-confirm").hidden = true;
  $("account").hidden = false;
}

async function readAccount(id) {
  if (!id) return void showErrors($("lookup-form"), [{ field: "id", message: "An advertiser id, as the account shows it." }]);
  try {
    const account = await api("GET", `/v1/admin/advertisers/${encodeURIComponent(id)}`);
    showErrors($("lookup-form"), []);
    showAccount(account);
  } catch (e) {
    $("account").hidden = true;
    const message = e.status === 404 ? "No advertiser has this id." : e.message;
    showErrors($("lookup-form"), [{ field: "id", message }]);
  }
}

async function rotateKey() {
  try {
    const account = await api("POST", `/v1/admin/advertisers/${encodeURIComponent($("account").dataset.id)}/api-key`);
    $("rotate-confirm").hidden = true;
    showIssuedKey(account);
  } catch (e) {
    toast(e.message);
  }
}

async function copyKey() {
  try {
    await navigator.clipboard.writeText($("issued-key").textContent);
    $("copy-state").textContent = "Copied.";
  } catch {
    // Without clipboard access, select the key so that the reviewer can copy it by hand.
    getSelection().selectAllChildren($("issued-key"));
    $("copy-state").textContent = "Selected: copy it with your keyboard.";
  }
}

// ---- users ---------------------------------------------------------------------------------

async function readUser(event) {
  event.preventDefault();
  const id = $("user-id").value.trim();
  if (!id) return void showErrors($("user-form"), [{ field: "id", message: "A user id, as in their token." }]);
  try {
    const user = await api("GET", `/v1/admin/users/${encodeURIComponent(id)}`);
    showErrors($("user-form"), []);
    $("user-title").textContent = `User ${user.id}`;
    $("user").dataset.id = user.id;
    $("ad-free").checked = user.ad_free;
    $("ad-free-state").textContent = "";
    $("user").hidden = false;
  } catch (e) {
    $("user").hidden = true;
    showErrors($("user-form"), [{ field: "id", message: e.errors[0]?.message || e.message }]);
  }
}

async function setAdFree() {
  const wanted = $("ad-free").checked;
  try {
    const user = await api("PATCH", `/v1/admin/users/${encodeURIComponent($("user").dataset.id)}`, { ad_free: wanted });
    $("ad-free").checked = user.ad_free;
    $("ad-free-state").textContent = user.ad_free ? "Sees no ads from now on." : "Sees ads again.";
  } catch (e) {
    $("ad-free").checked = !wanted;
    $("ad-free-state").textContent = e.message;
  }
}

// ---- start ---------------------------------------------------------------------------------

function signOut() {
  forget();
  $("desk").hidden = true;
  $("signin").hidden = false;
}

/** Opens the desk when the API takes the token for the admin's; says so when it does not. */
async function start() {
  try {
    await loadQueue();
    $("signin-error").textContent = "";
    $("signin").hidden = true;
    $("desk").hidden = false;
    showTabPage("review");
  } catch (e) {
    signOut();
    $("signin-error").textContent =
      e.status === 401 || e.status === 403
        ? `The API refused this token (${e.status}): the review desk needs the operator's admin token.`
        : e.message;
  }
}

function wire() {
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("signin-token").value.trim());
    $("signin-token").value = "";
    start();
  });
  $("signout").addEventListener("click", signOut);
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      showTabPage(tab.dataset.tab);
      if (tab.dataset.tab === "review") loadQueue().catch((e) => toast(e.message));
    });
  }
  $("approve").addEventListener("click", () => decide("approve"));
  $("decision").addEventListener("submit", (event) => {
    event.preventDefault();
    decide("reject");
  });
  $("next").addEventListener("click", () => move(1));
  $("previous").addEventListener("click", () => move(-1));
  $("r-advertiser").addEventListener("click", () => {
    showTabPage("advertisers");
    $("lookup-id").value = $("r-advertiser").dataset.id;
    readAccount($("r-advertiser").dataset.id);
  });
  document.addEventListener("keydown", onKey);
  $("create-form").addEventListener("submit", createAccount);
  $("copy-key").addEventListener("click", copyKey);
  $("lookup-form").addEventListener("submit", (event) => {
    event.preventDefault();
    readAccount($("lookup-id").value.trim());
  });
  $("rotate").addEventListener("click", () => ($("rotate-confirm").hidden = false));
  $("rotate-cancel").addEventListener("click", () => ($("rotate-confirm").hidden = true));
  $("rotate-now").addEventListener("click", rotateKey);
  $("user-form").addEventListener("submit", readUser);
  $("ad-free").addEventListener("change", setAdFree);
}

wire();
if (credential()) start();
else $("signin").hidden = false;
