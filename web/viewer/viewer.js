// The story viewer: a client of statusd's public API and nothing else. Every text a user or an
// advertiser wrote goes into the page as text (textContent), never as HTML.

const TOKEN_KEY = "statusd.token";
const STORY_MS = 5000;
const $ = (id) => document.getElementById(id);

// ---- the API -------------------------------------------------------------------------------

/** A refused call: the problem's status, code and detail. */
class Problem extends Error {
  constructor(status, body) {
    super(body?.detail || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${token()}` };
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) {
    if (response.status === 401) signOut();
    throw new Problem(response.status, json);
  }
  return json;
}

/** An image the API serves to the signed-in user, as a blob URL (an <img> sends no bearer token). */
async function imageUrl(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token()}` } });
  if (!response.ok) throw new Problem(response.status, null);
  return URL.createObjectURL(await response.blob());
}

// ---- small helpers -------------------------------------------------------------------------

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function ago(iso) {
  const minutes = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 60000));
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min ago`;
  return `${Math.round(minutes / 60)} h ago`;
}

let toastTimer;
function toast(message) {
  const node = $("toast");
  node.textContent = message;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (node.hidden = true), 2500);
}

function show(screen) {
  for (const id of ["signin", "updates", "player", "composer"]) $(id).hidden = id !== screen;
  if (screen === "player") $("player").focus();
}

function openSheet(title, lines) {
  $("sheet-title").textContent = title;
  $("sheet-list").replaceChildren(...lines.map((line) => el("li", "", line)));
  $("sheet").hidden = false;
  player.pause();
}

function closeSheet() {
  $("sheet").hidden = true;
  player.resume();
}

// ---- the feed ------------------------------------------------------------------------------

/** The feed as loaded so far: its items in order (authors and ads), the muted authors, the cursor. */
const feed = { items: [], muted: [], cursor: null, loading: false, done: false };

async function loadFeed(first) {
  if (feed.loading || (!first && feed.done)) return;
  feed.loading = true;
  try {
    if (first) Object.assign(feed, { items: [], muted: [], cursor: null, done: false });
    const query = feed.cursor ? `?limit=20&cursor=${encodeURIComponent(feed.cursor)}` : "?limit=20";
    const page = await api("GET", `/v1/feed${query}`);
    feed.items.push(...page.items);
    if (first) feed.muted = page.muted;
    feed.cursor = page.next_cursor;
    feed.done = !page.next_cursor;
    renderTray();
  } finally {
    feed.loading = false;
  }
}

/** A round initial in a colour of its own for each name. */
function avatar(name) {
  const node = el("span", "avatar", name.slice(0, 1).toUpperCase());
  const hue = [...name].reduce((h, c) => (h * 31 + c.charCodeAt(0)) % 360, 7);
  node.style.background = `hsl(${hue} 45% 38%)`;
  return node;
}

function authorEntry(item, onOpen) {
  const li = el("li", item.unseen ? "unseen" : "seen");
  li.dataset.author = item.author;
  const button = el("button", "entry");
  button.type = "button";
  const words = el("span");
  words.append(el("span", "name", item.author), el("span", "sub", ago(item.latest_at)));
  button.append(avatar(item.author), words);
  button.addEventListener("click", onOpen);
  li.append(button);
  return li;
}

function renderTray() {
  const authors = feed.items.map((item, at) => ({ item, at })).filter(({ item }) => item.type === "author");
  $("tray").replaceChildren(...authors.map(({ item, at }) => authorEntry(item, () => player.open(feed.items, at))));
  $("tray-empty").hidden = authors.length > 0;
  const muted = feed.muted.filter((item) => item.type === "author");
  $("muted-title").hidden = muted.length === 0;
  $("muted").replaceChildren(...muted.map((item, at) => authorEntry(item, () => player.open(muted, at))));
}

async function renderMine() {
  const { stories } = await api("GET", "/v1/me/stories");
  $("mine-empty").hidden = stories.length > 0;
  $("mine").replaceChildren(
    ...stories.map((story) => {
      const li = el("li");
      const button = el("button", "entry");
      button.type = "button";
      const words = el("span");
      const label = story.kind === "text" ? story.text : story.caption || "Photo";
      words.append(el("span", "name", label), el("span", "sub", `${story.view_count} views · ${ago(story.created_at)}`));
      button.append(avatar("Me"), words);
      button.addEventListener("click", () => showViewers(story));
      li.append(button);
      return li;
    }),
  );
}

async function showViewers(story) {
  try {
    const { viewers } = await api("GET", `/v1/stories/${encodeURIComponent(story.id)}/viewers?limit=50`);
    const lines = viewers.map((v) => `${v.user}${v.reaction ? ` ${v.reaction}` : ""} · ${ago(v.viewed_at)}`);
    openSheet("Viewed by", lines.length ? lines : ["No views yet"]);
  } catch (e) {
    openSheet("Viewed by", [e.message]);
  }
}

// ---- the player ----------------------------------------------------------------------------

/** Reactions the service takes: the enum of its own document. */
let reactions = [];

async function loadReactions() {
  const doc = await (await fetch("/openapi.json")).json();
  reactions = doc.components?.schemas?.NewReaction?.properties?.emoji?.enum || [];
}

const player = {
  items: [],
  at: 0, // index of the current feed item
  story: 0, // index of the story within an author item
  timer: null,
  started: 0,
  left: STORY_MS,

  open(items, at) {
    this.items = items;
    this.at = at;
    const item = items[at];
    const firstUnseen = item.type === "author" ? item.stories.findIndex((s) => !s.seen) : -1;
    this.story = Math.max(0, firstUnseen);
    show("player");
    this.render();
  },

  close() {
    clearTimeout(this.timer);
    $("ad-menu").hidden = true;
    show("updates");
    renderTray();
  },

  current() {
    const item = this.items[this.at];
    return item?.type === "author" ? { item, story: item.stories[this.story] } : { item };
  },

  next() {
    const item = this.items[this.at];
    if (item?.type === "author" && this.story + 1 < item.stories.length) {
      this.story += 1;
    } else if (this.at + 1 < this.items.length) {
      this.at += 1;
      this.story = 0;
    } else {
      return this.close();
    }
    this.render();
  },

  back() {
    if (this.story > 0) {
      this.story -= 1;
    } else if (this.at > 0) {
      this.at -= 1;
      const item = this.items[this.at];
      this.story = item.type === "author" ? item.stories.length - 1 : 0;
    }
    this.render();
  },

  schedule(ms) {
    clearTimeout(this.timer);
    this.started = Date.now();
    this.left = ms;
    this.timer = setTimeout(() => this.next(), ms);
  },

  pause() {
    if ($("player").hidden || !this.timer) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.left -= Date.now() - this.started;
    $("player").classList.add("paused");
  },

  resume() {
    if ($("player").hidden || this.timer) return;
    $("player").classList.remove("paused");
    this.schedule(Math.max(0, this.left));
  },

  renderBars(count, now) {
    $("bars").replaceChildren(
      ...Array.from({ length: count }, (_, i) => {
        const bar = el("span", i < now ? "done" : i === now ? "now" : "");
        bar.append(el("i"));
        return bar;
      }),
    );
  },

  render() {
    const { item, story } = this.current();
    $("ad-menu").hidden = true;
    $("player").classList.remove("paused");
    $("player").style.setProperty("--story-ms", `${STORY_MS}ms`);
    if (!item) return this.close();
    if (item.type === "ad") return this.renderAd(item.ad);
    this.renderBars(item.stories.length, this.story);
    $("player-who").textContent = item.author;
    $("player-when").textContent = ago(story.created_at);
    $("ad-menu-open").hidden = true;
    const stage = $("stage");
    stage.replaceChildren();
    if (story.kind === "image") {
      const img = el("img");
      img.alt = story.caption || `A photo by ${item.author}`;
      imageUrl(story.media_url).then((url) => (img.src = url)).catch(() => (img.alt = "The photo is no longer available"));
      stage.append(img);
      if (story.caption) stage.append(el("p", "caption", story.caption));
    } else {
      const text = el("div", `text-story font-${story.font || 0}`, story.text);
      text.style.background = story.background || "#075e54";
      stage.append(text);
    }
    this.renderReactions(story, item);
    this.markSeen(story, item);
    this.schedule(STORY_MS);
  },

  renderReactions(story, item) {
    const foot = $("player-foot");
    foot.replaceChildren(
      ...reactions.map((emoji) => {
        const button = el("button", "reaction", emoji);
        button.type = "button";
        button.setAttribute("aria-label", `React ${emoji}`);
        button.addEventListener("click", async () => {
          try {
            await api("POST", `/v1/stories/${encodeURIComponent(story.id)}/reactions`, { emoji });
            toast(`You reacted ${emoji} to ${item.author}'s status`);
          } catch (e) {
            toast(e.message);
          }
        });
        return button;
      }),
    );
  },

  async markSeen(story, item) {
    if (story.seen) return;
    story.seen = true;
    item.unseen = item.stories.some((s) => !s.seen);
    try {
      await api("POST", `/v1/stories/${encodeURIComponent(story.id)}/view`);
    } catch (e) {
      toast(e.message);
    }
  },

  renderAd(ad) {
    this.renderBars(1, 0);
    $("player-who").replaceChildren(document.createTextNode(ad.advertiser.name), el("span", "sponsored", "Sponsored"));
    $("player-when").textContent = "";
    $("ad-menu-open").hidden = false;
    const stage = $("stage");
    const img = el("img");
    img.alt = ad.headline;
    imageUrl(ad.media_url).then((url) => (img.src = url)).catch(() => {});
    stage.replaceChildren(img, el("p", "ad-headline", ad.headline));
    const cta = el("button", "cta", ad.cta.label);
    cta.type = "button";
    cta.addEventListener("click", async () => {
      try {
        const { url } = await api("POST", `/v1/ads/${encodeURIComponent(ad.token)}/click`);
        window.open(url, "_blank", "noopener,noreferrer");
      } catch (e) {
        toast(e.message);
      }
    });
    $("player-foot").replaceChildren(cta);
    // The card is on screen: that is the impression (counted once per token by the service).
    api("POST", `/v1/ads/${encodeURIComponent(ad.token)}/impression`).catch(() => {});
    this.schedule(STORY_MS);
  },

  /** Takes ads out of the sequence (and the feed) after hide or block, and moves on. */
  dropAds(keep) {
    const before = this.items[this.at];
    this.items = this.items.filter((item) => item.type !== "ad" || keep(item.ad));
    feed.items = feed.items.filter((item) => item.type !== "ad" || keep(item.ad));
    const at = this.items.indexOf(before);
    this.at = at >= 0 ? at : Math.min(this.at, this.items.length - 1);
    this.story = 0;
    if (at < 0 && this.items.length) this.render();
    else if (!this.items.length) this.close();
  },

  async adAction(action) {
    const { item } = this.current();
    if (item?.type !== "ad") return;
    const ad = item.ad;
    const path = `/v1/ads/${encodeURIComponent(ad.token)}`;
    $("ad-menu").hidden = true;
    try {
      if (action === "why") {
        const why = await api("GET", `${path}/why`);
        openSheet("Why you're seeing this ad", why.reasons);
      } else if (action === "hide") {
        await api("POST", `${path}/hide`);
        toast("Ad hidden. You won't see it again.");
        this.dropAds((other) => other.token !== ad.token);
      } else if (action === "report") {
        await api("POST", `${path}/report`, { reason: "Reported from the viewer" });
        toast("Thanks. The ad was reported.");
        this.dropAds((other) => other.token !== ad.token);
      } else if (action === "block") {
        await api("PUT", `/v1/me/blocked-advertisers/${encodeURIComponent(ad.advertiser.id)}`);
        toast(`${ad.advertiser.name} is blocked. You won't see their ads.`);
        this.dropAds((other) => other.advertiser.id !== ad.advertiser.id);
      }
    } catch (e) {
      toast(e.message);
    }
  },
};

// ---- posting -------------------------------------------------------------------------------

function audience() {
  const mode = $("compose-audience").value;
  if (!mode) return undefined;
  const users = $("compose-users").value.split(",").map((u) => u.trim()).filter(Boolean);
  return { mode, users: mode === "contacts" ? [] : users };
}

async function post(event) {
  event.preventDefault();
  $("compose-error").textContent = "";
  const kind = document.querySelector("input[name=kind]:checked").value;
  try {
    if (kind === "text") {
      await api("POST", "/v1/stories", {
        text: $("compose-body").value,
        background: $("compose-background").value.toUpperCase(),
        font: Number($("compose-font").value),
        ...(audience() ? { audience: audience() } : {}),
      });
    } else {
      const file = $("compose-file").files[0];
      if (!file) throw new Error("Choose a photo first");
      const form = new FormData();
      form.append("media", file);
      if ($("compose-caption").value) form.append("caption", $("compose-caption").value);
      if (audience()) form.append("audience", JSON.stringify(audience()));
      await api("POST", "/v1/stories", form);
    }
    $("compose-form").reset();
    syncComposer();
    show("updates");
    toast("Status posted");
    await renderMine();
  } catch (e) {
    $("compose-error").textContent = e.message;
  }
}

function syncComposer() {
  const photo = document.querySelector("input[name=kind]:checked").value === "photo";
  $("compose-text").hidden = photo;
  $("compose-photo").hidden = !photo;
  const listed = ["contacts_except", "only"].includes($("compose-audience").value);
  $("compose-users").hidden = !listed;
  $("compose-users-label").hidden = !listed;
}

// ---- start ---------------------------------------------------------------------------------

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  show("signin");
}

async function start() {
  try {
    await Promise.all([loadReactions(), loadFeed(true), renderMine()]);
    show("updates");
  } catch (e) {
    if (e.status !== 401) $("signin-error").textContent = e.message;
    signOut();
  }
}

function wire() {
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("signin-token").value.trim());
    $("signin-token").value = "";
    start();
  });
  $("signout").addEventListener("click", signOut);
  $("compose-open").addEventListener("click", () => show("composer"));
  $("compose-close").addEventListener("click", () => show("updates"));
  $("compose-form").addEventListener("submit", post);
  $("compose-form").addEventListener("change", syncComposer);
  $("player-close").addEventListener("click", () => player.close());
  $("tap-next").addEventListener("click", () => player.next());
  $("tap-back").addEventListener("click", () => player.back());
  $("ad-menu-open").addEventListener("click", () => {
    $("ad-menu").hidden = !$("ad-menu").hidden;
    if ($("ad-menu").hidden) player.resume();
    else player.pause();
  });
  for (const button of document.querySelectorAll("[data-ad-action]")) {
    button.addEventListener("click", () => player.adAction(button.dataset.adAction));
  }
  $("sheet-close").addEventListener("click", closeSheet);
  document.addEventListener("keydown", (event) => {
    if (!$("sheet").hidden && event.key === "Escape") return closeSheet();
    if ($("player").hidden) return;
    if (event.key === "ArrowRight") player.next();
    else if (event.key === "ArrowLeft") player.back();
    else if (event.key === "Escape") player.close();
  });
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && token()) loadFeed(false).catch((e) => toast(e.message));
  }).observe($("tray-more"));
}

wire();
// A sign-in link carries the token in its fragment (never sent to a server): read it, then drop it.
const fragment = new URLSearchParams(location.hash.slice(1));
if (fragment.get("token")) {
  sessionStorage.setItem(TOKEN_KEY, fragment.get("token"));
  history.replaceState(null, "", location.pathname + location.search);
}
if (token()) start();
else show("signin");
