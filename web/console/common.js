// What the advertiser console and the review desk share: the API client, images as blob URLs,
// elements built with their text as text (textContent, never HTML), and the toast.

export const $ = (id) => document.getElementById(id);

/** An answer outside 2xx: its status, the problem's detail and its field errors. */
export class Problem extends Error {
  constructor(status, body) {
    super(body?.detail || `HTTP ${status}`);
    this.status = status;
    this.errors = body?.errors || [];
  }
}

/** A client of the API with the credential kept in `sessionStorage` under `storageKey` (never in a
 * URL); `onUnauthorized` runs when the API answers 401 (the credential no longer works). */
export function client(storageKey, onUnauthorized) {
  const credential = () => sessionStorage.getItem(storageKey);
  const authorization = () => ({ Authorization: `Bearer ${credential()}` });

  async function api(method, path, body) {
    const headers = authorization();
    let payload;
    if (body instanceof FormData) payload = body;
    else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    const response = await fetch(path, { method, headers, body: payload });
    const text = await response.text();
    const json = text && (response.headers.get("content-type") || "").includes("json") ? JSON.parse(text) : text;
    if (!response.ok) {
      if (response.status === 401) onUnauthorized();
      throw new Problem(response.status, json);
    }
    return json;
  }

  async function blob(path) {
    const response = await fetch(path, { headers: authorization() });
    if (!response.ok) throw new Problem(response.status, null);
    return response.blob();
  }

  /** Shows the API's image at `path` in `img`, or says it is unavailable. */
  async function imageInto(img, path) {
    try {
      img.src = URL.createObjectURL(await blob(path));
    } catch {
      img.alt = "unavailable";
    }
  }

  return {
    api,
    blob,
    imageInto,
    credential,
    signIn: (value) => sessionStorage.setItem(storageKey, value),
    signOut: () => sessionStorage.removeItem(storageKey),
  };
}

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

let toastTimer;
/** A short message in the page's `#toast`. */
export function toast(message) {
  $("toast").textContent = message;
  $("toast").hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => ($("toast").hidden = true), 2500);
}

/** Shows each error beside its field (`errors[].field` of a problem, or the page's own checks). */
export function showErrors(form, errors) {
  for (const node of form.querySelectorAll(".field-error")) node.textContent = "";
  for (const node of form.querySelectorAll(".invalid")) node.classList.remove("invalid");
  const unplaced = [];
  for (const { field, message } of errors) {
    const base = field.replace(/\[\d+\]$/, "");
    const slot = form.querySelector(`.field-error[data-field="${CSS.escape(field)}"]`) || form.querySelector(`.field-error[data-field="${CSS.escape(base)}"]`);
    if (slot) {
      slot.textContent = message;
      slot.previousElementSibling?.classList?.add("invalid");
    } else unplaced.push(`${field}: ${message}`);
  }
  return unplaced.join("; ");
}

/** Shows the tab page `#tab-<name>` and marks its `.tab` button. */
export function showTabPage(name) {
  for (const page of document.querySelectorAll(".tab-page")) page.hidden = page.id !== `tab-${name}`;
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.tab === name);
}
