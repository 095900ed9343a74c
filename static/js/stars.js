// The reader's stars — the one door to them — and the ☆/★ button on every card.
//
// Today the stars live in this browser (localStorage "cp.stars", no account needed). The next
// issue (lab accounts) moves them to the server (GET /api/stars, PUT/DELETE /api/stars/{id}):
// only the bodies of load() and persist() below change, not the functions callers use:
//
//   ready()            Promise, settled once list()/has() reflect the store (today at once;
//                      from the server: after GET /api/stars)
//   list()             [{id, at, title, page}] newest first; at = when starred (ISO 8601 UTC),
//                      page = where it was starred (pageKey()), title as the card showed it
//   has(id), get(id)   from the same in-memory copy: synchronous, cheap for 1,000 cards
//   star(id, {title, page})  Promise; starring a starred paper keeps its first time
//   unstar(id)         Promise
//   toggle(id, info)   Promise of the new state (true = starred)
//   persistent()       false when the browser refuses storage (private mode, blocked site
//                      data): the stars then last as long as the page, and the pages say so
//
// Writes change the in-memory copy, store it, and dispatch `cp:stars` on document (today all
// synchronous: the buttons answer the click at once; a server store would dispatch first and
// settle the promise when the server has it).
// Another tab's changes arrive through the `storage` event and dispatch `cp:stars` too.

const KEY = "cp.stars";
const UNREADABLE_KEY = "cp.stars.unreadable";  // what was there before, if it was not ours
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._@\/-]{0,99}$/;  // arXiv ids (old style has a /), venue keys
const MAX_TITLE = 500;
const MAX_PAGE = 500;

let cache = null;         // Map id -> {id, at, title, page}
let writable = true;      // localStorage accepted our last read and write
let warned = false;
let unreadable = null;    // the raw value we could not read, kept until our first write

function warnOnce(why) {
  writable = false;
  if (warned) return;
  warned = true;
  console.warn(`coolpapers: stars are kept for this page only (${why})`);
}

function storage() {
  try {
    return window.localStorage;  // the getter itself throws where site data is blocked
  } catch (err) {
    warnOnce(err.name || "no storage");
    return null;
  }
}

function isoOrNull(value) {
  if (typeof value !== "string" && typeof value !== "number") return null;
  const time = new Date(value);
  return Number.isNaN(time.getTime()) ? null : time.toISOString();
}

// One stored entry, checked: anything else in the store (another version's, a hand edit, a
// browser extension's) is dropped, never trusted as markup or as a URL part.
function clean(entry) {
  if (!entry || typeof entry !== "object" || typeof entry.id !== "string") return null;
  const id = entry.id.trim();
  if (!ID_RE.test(id) || id.includes("..")) return null;
  const title = typeof entry.title === "string" ? entry.title.slice(0, MAX_TITLE) : "";
  const page = typeof entry.page === "string" && entry.page.startsWith("/") && !entry.page.startsWith("//")
    ? entry.page.slice(0, MAX_PAGE) : "";
  return { id, at: isoOrNull(entry.at), title, page };
}

function parse(raw) {
  let data;
  try {
    data = JSON.parse(raw);
  } catch (err) {
    return null;
  }
  const entries = Array.isArray(data) ? data : (data && Array.isArray(data.stars) ? data.stars : null);
  if (!entries) return null;
  const found = new Map();
  for (const entry of entries) {
    const star = clean(entry);
    if (star && !found.has(star.id)) found.set(star.id, star);
  }
  return found;
}

function load() {
  const store = storage();
  if (!store) return new Map();
  let raw;
  try {
    raw = store.getItem(KEY);
  } catch (err) {
    warnOnce(err.name || "storage refused");
    return new Map();
  }
  if (raw === null || raw === "") return new Map();
  const found = parse(raw);
  if (found === null) {
    unreadable = raw;
    console.warn("coolpapers: the stored stars could not be read; starting afresh (the old value is kept as cp.stars.unreadable)");
    return new Map();
  }
  return found;
}

function persist() {
  const store = storage();
  if (!store) return;
  try {
    if (unreadable !== null) {
      if (store.getItem(UNREADABLE_KEY) === null) store.setItem(UNREADABLE_KEY, unreadable);
      unreadable = null;
    }
    store.setItem(KEY, JSON.stringify([...cache.values()]));
    writable = true;
  } catch (err) {
    warnOnce(err.name || "storage refused");  // QuotaExceededError in old private modes
  }
}

function changed() {
  document.dispatchEvent(new CustomEvent("cp:stars", { detail: {} }));
}

function entries() {
  if (cache === null) cache = load();
  return cache;
}

export function ready() {
  entries();
  return Promise.resolve();
}

export function persistent() {
  entries();
  return writable;
}

export function list() {
  const newestFirst = (a, b) => (b.at || "").localeCompare(a.at || "");
  return [...entries().values()].sort(newestFirst).map((s) => ({ ...s }));
}

export function has(id) {
  return entries().has(id);
}

export function get(id) {
  const star = entries().get(id);
  return star ? { ...star } : undefined;
}

export function star(id, info = {}) {
  const fresh = clean({ id, at: new Date().toISOString(), title: info.title, page: info.page });
  if (!fresh) return Promise.reject(new Error(`not a paper id: ${id}`));
  const old = entries().get(fresh.id);
  if (old) {
    if (old.title || !fresh.title) return Promise.resolve();
    old.title = fresh.title;  // first starred without one (a card we had not seen)
  } else {
    cache.set(fresh.id, fresh);
  }
  persist();
  changed();
  return Promise.resolve();
}

export function unstar(id) {
  if (entries().delete(id)) {
    persist();
    changed();
  }
  return Promise.resolve();
}

export function toggle(id, info = {}) {
  return has(id) ? unstar(id).then(() => false) : star(id, info).then(() => true);
}

// ---------------------------------------------------------------- where a star was made

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

// A list page names its day only in words ("Tue, 01 Sep 2026"); a URL without ?date= shows
// the latest day, which changes overnight, so the day is what makes the page the same page.
function shownDay() {
  const day = document.querySelector(".listhead .day");
  const match = day && /(\d{1,2})\s+([A-Za-z]{3})[a-z]*\s+(\d{4})/.exec(day.textContent);
  if (!match) return "";
  const month = MONTHS.indexOf(match[2].toLowerCase()) + 1;
  if (!month) return "";
  return `${match[3]}-${String(month).padStart(2, "0")}-${match[1].padStart(2, "0")}`;
}

// This page as a star list sees it: path and query, without what only pages or orders it.
export function pageKey(loc = window.location) {
  const params = new URLSearchParams(loc.search);
  for (const name of ["skip", "show", "sort", "highlight", "fragment"]) params.delete(name);
  const day = shownDay();
  if (day && !params.has("date")) params.set("date", day);
  params.sort();
  const query = params.toString();
  return loc.pathname + (query ? `?${query}` : "");
}

// A card's title as text: rendered math read back as the TeX it was written in (the server's
// MathML keeps it, delimiters included, in alttext), so the star list shows what arXiv shows.
export function cardTitle(id) {
  const link = document.getElementById(`title-${id}`);
  if (!link) return "";
  const copy = link.cloneNode(true);
  for (const math of copy.querySelectorAll("math")) {
    const alt = (math.getAttribute("alttext") || "").trim();
    const tex = math.querySelector('annotation[encoding="application/x-tex"]');
    if (alt) math.replaceWith(/^(\$|\\[([])/.test(alt) ? alt : `$${alt}$`);
    else if (tex) math.replaceWith(`$${tex.textContent.trim()}$`);
  }
  return copy.textContent.replace(/\s+/g, " ").trim();
}

// ---------------------------------------------------------------- the card's star button

function sync(root) {
  const buttons = root.matches && root.matches("button.star[data-paper]")
    ? [root] : root.querySelectorAll("button.star[data-paper]");
  for (const button of buttons) {
    const pressed = has(button.dataset.paper) ? "true" : "false";
    if (button.getAttribute("aria-pressed") !== pressed) button.setAttribute("aria-pressed", pressed);
  }
}

export function init() {
  entries();
  sync(document);
  document.addEventListener("cp:stars", () => sync(document));
  document.addEventListener("cp:cards", (event) => {
    for (const card of (event.detail && event.detail.cards) || []) sync(card);
  });
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button.star[data-paper]");
    if (!button) return;
    const id = button.dataset.paper;
    toggle(id, { title: cardTitle(id), page: pageKey() }).catch((err) => console.warn("coolpapers:", err.message));
  });
  window.addEventListener("storage", (event) => {
    if (event.key !== KEY && event.key !== null) return;  // null: the whole store was cleared
    cache = load();
    changed();
  });
}
