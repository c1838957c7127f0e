// The advertiser console: a client of statusd's public API and nothing else. Every text goes into
// the page as text (textContent), never as HTML. The chart is uPlot (web/vendor/uplot), a global.

import { $, client, el, showErrors, showTabPage, toast } from "./common.js";

const MICROS = 1_000_000;
const { api, blob, imageInto, credential, signIn, signOut: forget } = client("statusd.advertiser-key", () => signOut());

/** An amount as people read it: cents, and tenths of a cent where an amount is that small. */
const money = (micros) =>
  (micros / MICROS).toLocaleString("en", { minimumFractionDigits: 2, maximumFractionDigits: 4, useGrouping: false });
/** An amount as a form's field holds it: exact, so that an unchanged field is not a change. */
const amount = (micros) => String(micros / MICROS);
const toMicros = (value) => (value === "" ? null : Math.round(Number(value) * MICROS));
const list = (value) => value.split(",").map((v) => v.trim()).filter(Boolean);

// ---- tabs ----------------------------------------------------------------------------------

function showTab(name) {
  showTabPage(name);
  if (name === "report") renderReport();
}

// ---- creatives -----------------------------------------------------------------------------

let creatives = [];
let chosenFile = null;

async function loadCreatives() {
  creatives = (await api("GET", "/v1/creatives?limit=100")).creatives;
  $("creatives").replaceChildren(
    ...creatives.map((c) => {
      const li = el("li");
      li.dataset.creative = c.id;
      const img = el("img");
      img.alt = c.headline;
      imageInto(img, c.thumb_url);
      const words = el("div", "grow");
      words.append(el("span", "title", c.headline), el("span", "hint", `${c.cta.label} → ${c.cta.url}`));
      if (c.review_reason) words.append(el("p", "error", `Rejected: ${c.review_reason}`));
      li.append(img, words, el("span", `badge ${c.status}`, c.status.replace("_", " ")));
      return li;
    }),
  );
  renderCreativeChoices();
}

function chooseFile(file) {
  chosenFile = file;
  $("upload-file-name").textContent = file ? `${file.name} (${Math.round(file.size / 1024)} KB)` : "";
}

async function upload(event) {
  event.preventDefault();
  const form = $("upload-form");
  $("upload-error").textContent = "";
  const headline = $("upload-headline").value.trim();
  const url = $("upload-cta-url").value.trim();
  const errors = [];
  if (!chosenFile) errors.push({ field: "image", message: "choose an image" });
  if (!headline || [...headline].length > 40) errors.push({ field: "headline", message: "1–40 characters" });
  if (!/^https:\/\/[^\s/]+/.test(url)) errors.push({ field: "cta_url", message: "an https:// link" });
  if (errors.length) return showErrors(form, errors);
  showErrors(form, []);
  const body = new FormData();
  body.append("image", chosenFile);
  body.append("headline", headline);
  body.append("cta_label", $("upload-cta-label").value);
  body.append("cta_url", url);
  try {
    const creative = await api("POST", "/v1/creatives", body);
    toast("Uploaded: waiting for review");
    showPreview(creative, chosenFile);
    form.reset();
    chooseFile(null);
    await loadCreatives();
  } catch (e) {
    $("upload-error").textContent = showErrors(form, e.errors) || e.message;
  }
}

function showPreview(creative, file) {
  $("preview").hidden = false;
  $("preview-original").src = URL.createObjectURL(file);
  imageInto($("preview-normalised"), creative.media_url);
  imageInto($("preview-card-image"), creative.media_url);
  $("preview-card-name").textContent = advertiserName;
  $("preview-card-headline").textContent = creative.headline;
  $("preview-card-cta").textContent = creative.cta.label;
}

// ---- campaigns -----------------------------------------------------------------------------

let campaigns = [];
let editing = null;

function renderCreativeChoices(chosen = []) {
  const approved = creatives.filter((c) => c.status === "approved");
  $("c-creatives").replaceChildren(
    ...(approved.length
      ? approved.map((c) => {
          const label = el("label");
          const box = el("input");
          box.type = "checkbox";
          box.value = c.id;
          box.checked = chosen.includes(c.id);
          label.append(box, document.createTextNode(c.headline));
          return label;
        })
      : [el("p", "hint", "No approved creative yet: upload one and wait for its review.")]),
  );
}

async function loadCampaigns() {
  campaigns = (await api("GET", "/v1/campaigns?limit=100")).campaigns;
  $("campaigns").replaceChildren(
    ...campaigns.map((c) => {
      const li = el("li");
      li.dataset.campaign = c.id;
      const words = el("div", "grow");
      words.append(el("span", "title", c.name), el("span", "hint", `${money(c.spent_micros)} of ${money(c.budget_micros)} spent`));
      const bar = el("div", "spend");
      const fill = el("i");
      fill.style.width = `${Math.min(100, (100 * c.spent_micros) / Math.max(1, c.budget_micros))}%`;
      bar.append(fill);
      words.append(bar);
      li.append(words, el("span", `badge ${c.status}`, c.status));
      if (["active", "scheduled", "paused"].includes(c.status)) {
        const paused = c.status === "paused";
        const toggle = el("button", "small", paused ? "Resume" : "Pause");
        toggle.type = "button";
        toggle.addEventListener("click", () => setPaused(c, !paused));
        const edit = el("button", "small quiet", "Edit");
        edit.type = "button";
        edit.addEventListener("click", () => startEditing(c));
        li.append(toggle, edit);
      }
      return li;
    }),
  );
  const chosen = $("r-campaign").value;
  $("r-campaign").replaceChildren(...campaigns.map((c) => Object.assign(el("option", "", c.name), { value: c.id })));
  if (chosen) $("r-campaign").value = chosen;
}

async function setPaused(campaign, paused) {
  try {
    await api("PATCH", `/v1/campaigns/${encodeURIComponent(campaign.id)}`, { status: paused ? "paused" : "active" });
    toast(paused ? "Campaign paused" : "Campaign resumed");
    await loadCampaigns();
  } catch (e) {
    toast(e.message);
  }
}

const localTime = (iso) => {
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
};

function startEditing(c) {
  editing = c;
  $("campaign-form-title").textContent = `Edit “${c.name}”`;
  $("campaign-submit").textContent = "Save changes";
  $("campaign-cancel").hidden = false;
  $("c-name").value = c.name;
  renderCreativeChoices(c.creative_ids);
  $("c-countries").value = c.targeting.countries.join(", ");
  $("c-languages").value = c.targeting.languages.join(", ");
  $("c-interests").value = c.targeting.interests.join(", ");
  $("c-bid").value = amount(c.bid_cpm_micros);
  $("c-budget").value = amount(c.budget_micros);
  $("c-daily").value = c.daily_budget_micros ? amount(c.daily_budget_micros) : "";
  $("c-start").value = localTime(c.start_at);
  $("c-end").value = localTime(c.end_at);
  $("c-cap").value = c.frequency_cap.impressions;
  $("c-cap-hours").value = Math.max(1, Math.round(c.frequency_cap.per_seconds / 3600));
  $("c-pacing").value = c.pacing;
  $("campaign-form").scrollIntoView();
}

function stopEditing() {
  editing = null;
  $("campaign-form").reset();
  $("campaign-form-title").textContent = "New campaign";
  $("campaign-submit").textContent = "Create campaign";
  $("campaign-cancel").hidden = true;
  showErrors($("campaign-form"), []);
  renderCreativeChoices();
}

/** The form as a campaign body, and the contract's rules the page can check itself. */
function campaignFromForm() {
  const start = $("c-start").value ? new Date($("c-start").value) : null;
  const end = $("c-end").value ? new Date($("c-end").value) : null;
  const body = {
    name: $("c-name").value.trim(),
    creative_ids: [...$("c-creatives").querySelectorAll("input:checked")].map((box) => box.value),
    targeting: { countries: list($("c-countries").value), languages: list($("c-languages").value), interests: list($("c-interests").value) },
    bid_cpm_micros: toMicros($("c-bid").value),
    budget_micros: toMicros($("c-budget").value),
    daily_budget_micros: toMicros($("c-daily").value),
    start_at: start?.toISOString(),
    end_at: end?.toISOString(),
    frequency_cap: { impressions: Number($("c-cap").value), per_seconds: Number($("c-cap-hours").value) * 3600 },
    pacing: $("c-pacing").value,
  };
  const errors = [];
  if (!body.name) errors.push({ field: "name", message: "a name" });
  if (!body.creative_ids.length) errors.push({ field: "creative_ids", message: "at least one approved creative" });
  if (!(body.bid_cpm_micros > 0)) errors.push({ field: "bid_cpm_micros", message: "more than 0" });
  if (!(body.budget_micros > 0)) errors.push({ field: "budget_micros", message: "more than 0" });
  if (body.daily_budget_micros !== null && !(body.daily_budget_micros > 0 && body.daily_budget_micros <= body.budget_micros)) {
    errors.push({ field: "daily_budget_micros", message: "more than 0 and at most the budget" });
  }
  if (!start) errors.push({ field: "start_at", message: "a start" });
  if (!end) errors.push({ field: "end_at", message: "an end" });
  else if (start && end <= start) errors.push({ field: "end_at", message: "after the start" });
  else if (!editing && end <= new Date()) errors.push({ field: "end_at", message: "in the future" });
  if (!(body.frequency_cap.impressions >= 1)) errors.push({ field: "frequency_cap.impressions", message: "at least 1" });
  if (!(body.frequency_cap.per_seconds >= 3600)) errors.push({ field: "frequency_cap.per_seconds", message: "at least 1 hour" });
  if (body.daily_budget_micros === null) delete body.daily_budget_micros;
  return { body, errors };
}

/** What an edit changes: the fields whose value differs from the campaign's. */
function changes(body, campaign) {
  const patch = {};
  for (const [field, value] of Object.entries(body)) {
    const before = field.endsWith("_at") ? new Date(campaign[field]).toISOString() : campaign[field];
    if (JSON.stringify(value) !== JSON.stringify(before)) patch[field] = value;
  }
  if (campaign.daily_budget_micros && body.daily_budget_micros === undefined) patch.daily_budget_micros = null;
  return patch;
}

async function saveCampaign(event) {
  event.preventDefault();
  const form = $("campaign-form");
  $("campaign-error").textContent = "";
  const { body, errors } = campaignFromForm();
  if (errors.length) return showErrors(form, errors);
  showErrors(form, []);
  try {
    if (editing) {
      await api("PATCH", `/v1/campaigns/${encodeURIComponent(editing.id)}`, changes(body, editing));
      toast("Campaign saved");
    } else {
      await api("POST", "/v1/campaigns", body);
      toast("Campaign created");
    }
    stopEditing();
    await loadCampaigns();
  } catch (e) {
    $("campaign-error").textContent = showErrors(form, e.errors) || e.message;
  }
}

// ---- report --------------------------------------------------------------------------------

let chart;

async function renderReport() {
  const id = $("r-campaign").value;
  if (!id) {
    $("totals").replaceChildren(el("p", "hint", "Create a campaign to see its report."));
    return;
  }
  const granularity = $("r-granularity").value;
  const report = await api("GET", `/v1/campaigns/${encodeURIComponent(id)}/report?granularity=${granularity}`);
  const x = report.buckets.map((b) => Date.parse(b.start) / 1000);
  const data = [
    x,
    report.buckets.map((b) => b.impressions),
    report.buckets.map((b) => b.clicks),
    report.buckets.map((b) => b.spend_micros / MICROS),
  ];
  chart?.destroy();
  const width = Math.max(280, $("chart").clientWidth || 320);
  chart = new uPlot(
    {
      width,
      height: 240,
      series: [
        {},
        { label: "Impressions", stroke: "#075e54", width: 2 },
        { label: "Clicks", stroke: "#c2410c", width: 2 },
        { label: "Spend", stroke: "#2563eb", width: 2, scale: "money" },
      ],
      axes: [{}, {}, { scale: "money", side: 1, size: 64, grid: { show: false }, values: (_, ticks) => ticks.map((v) => String(Number(v.toPrecision(2)))) }],
    },
    data,
    $("chart"),
  );
  const t = report.total;
  const figures = [
    ["Impressions", t.impressions],
    ["Clicks", t.clicks],
    ["CTR", `${(t.ctr * 100).toFixed(2)} %`],
    ["Unique reach", t.unique_reach],
    ["Spend", money(t.spend_micros)],
  ];
  $("totals").replaceChildren(
    ...figures.map(([name, value]) => {
      const cell = el("div");
      cell.dataset.figure = name;
      cell.append(el("dt", "", name), el("dd", "", String(value)));
      return cell;
    }),
  );
}

async function downloadCsv() {
  const id = $("r-campaign").value;
  if (!id) return;
  const granularity = $("r-granularity").value;
  const file = await blob(`/v1/campaigns/${encodeURIComponent(id)}/report.csv?granularity=${granularity}`);
  const link = el("a");
  link.href = URL.createObjectURL(file);
  link.download = `campaign-${id}-${granularity}.csv`;
  document.body.append(link);
  link.click();
  link.remove();
}

// ---- start ---------------------------------------------------------------------------------

let advertiserName = "Your business";

function signOut() {
  forget();
  $("console").hidden = true;
  $("signin").hidden = false;
}

async function start() {
  try {
    const doc = await (await fetch("/openapi.json")).json();
    const labels = doc.components?.schemas?.NewCreative?.properties?.cta_label?.enum || [];
    $("upload-cta-label").replaceChildren(...labels.map((l) => Object.assign(el("option", "", l), { value: l })));
    advertiserName = (await api("GET", "/v1/advertiser")).name;
    $("who").textContent = advertiserName;
    await loadCreatives();
    await loadCampaigns();
    $("signin").hidden = true;
    $("console").hidden = false;
    showTab("creatives");
  } catch (e) {
    if (e.status !== 401) $("signin-error").textContent = e.message;
    signOut();
  }
}

function wire() {
  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("signin-key").value.trim());
    $("signin-key").value = "";
    start();
  });
  $("signout").addEventListener("click", signOut);
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showTab(tab.dataset.tab));
  $("upload-form").addEventListener("submit", upload);
  $("upload-file").addEventListener("change", () => chooseFile($("upload-file").files[0] || null));
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    chooseFile(event.dataTransfer.files[0] || null);
  });
  $("campaign-form").addEventListener("submit", saveCampaign);
  $("campaign-cancel").addEventListener("click", stopEditing);
  $("r-campaign").addEventListener("change", () => renderReport().catch((e) => toast(e.message)));
  $("r-granularity").addEventListener("change", () => renderReport().catch((e) => toast(e.message)));
  $("csv").addEventListener("click", () => downloadCsv().catch((e) => toast(e.message)));
}

wire();
if (credential()) start();
else $("signin").hidden = false;
