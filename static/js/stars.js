// The reader's stars — the one door to them — and the ☆/★ button on every card.
//
// Where they live: in this browser (localStorage "cp.stars", no account needed), or, when a
// member is logged in to a lab's instance (body[data-member]), in their account on the server
// (GET /api/stars, PUT/DELETE /api/stars/{id}). Callers see the same functions either way:
//
//   ready()            Promise, settled once list()/has() reflect the store (the browser's: at
//                      once; the account's: after GET /api/stars, or after it failed)
//   list()             [{id, at, title, page}] newest first; at = when starred (ISO 8601 UTC),
//                      page = where it was starred (pageKey()), title as the card showed it
//   has(id), get(id)   from the same in-memory copy: synchronous, cheap for 1,000 cards
//   star(id, {title, page})  Promise; starring a starred paper keeps its first time
//   unstar(id)         Promise
//   toggle(id, info)   Promise of the new state (true = starred)
//   persistent()       false when the browser refuses storage (private mode, blocked site
//                      data): the stars then last as long as the page, and the pages say so
//   where()            "account" or "browser"; failure(): why the account's stars could not be
//                      read ("" when they were)
//
// Writes change the in-memory copy and dispatch `cp:stars` on document at once (the buttons
// answer the click at once). In the browser they are stored at once too; for a member the
// promise settles when the server has the write, and a write the server refuses is rolled
// back (another `cp:stars`), said in a notice on the page, and rejects the promise. A member's
// writes of one paper go to the server one after another, in the order they were made, so a
// quick star/un-star cannot arrive reversed.
//
// Another tab's changes arrive too: through the `storage` event (this browser's stars); for a
// member through a BroadcastChannel from this browser's other tabs, and by reading the
// account's stars again when the tab comes back into view (another browser's).
//
// The server keeps no page of a star: a member's star made here keeps its page (and title) in
// this browser ("cp.stars.meta.<member>"), and an imported star keeps the one its browser
// store had, so the star list of a page finds them.

import * as starsImport from "./stars_import.js";

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

// ---------------------------------------------------------------- this browser's stars

// `quiet`: a member's tabs read the browser's store only to offer its stars for import and to
// find a star's page; its faults are the browser mode's to report.
function load(quiet = false) {
  const store = storage();
  if (!store) return new Map();
  let raw;
  try {
    raw = store.getItem(KEY);
  } catch (err) {
    if (!quiet) warnOnce(err.name || "storage refused");
    return new Map();
  }
  if (raw === null || raw === "") return new Map();
  const found = parse(raw);
  if (found === null) {
    if (quiet) return new Map();
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

// ---------------------------------------------------------------- a member's stars (the server)

const META_MAX = 2000;     // pages and titles kept for a member's stars made in this browser
const IMPORT_BATCH = 1000; // what POST /api/stars/import takes at once

let member = null;         // the logged-in member's name, "" when none (read once)
let loading = null;        // Promise of the first GET /api/stars
let failed = "";           // why the account's stars could not be read
const pending = new Map(); // id -> {want, done}: the newest write of a paper not yet answered
let channel = null;        // BroadcastChannel to this member's other tabs in this browser
let refetching = null;     // the read of the account's stars under way
let again = false;         // read them once more when it is done
let answered = 0;          // writes answered by the server so far (see refetch)
const MAX_READS = 5;       // reads in a row while writes keep crossing them

function memberName() {
  if (member === null) member = (document.body && document.body.dataset.member) || "";
  return member;
}

function metaKey() {
  return `${KEY}.meta.${memberName()}`;
}

// id -> {page, title} of the member's stars made (or imported) in this browser
function readMeta() {
  const store = storage();
  if (!store) return {};
  try {
    const data = JSON.parse(store.getItem(metaKey()) || "{}");
    return data && typeof data === "object" && !Array.isArray(data) ? data : {};
  } catch (err) {
    return {};
  }
}

function writeMeta(change) {
  const store = storage();
  if (!store) return;
  const meta = readMeta();
  change(meta);
  const ids = Object.keys(meta);
  for (const id of ids.slice(0, Math.max(0, ids.length - META_MAX))) delete meta[id];
  try {
    store.setItem(metaKey(), JSON.stringify(meta));
  } catch (err) {
    // the star is on the server all the same; only its page is not remembered here
  }
}

function rememberPage(star) {
  if (!star.page && !star.title) return;
  writeMeta((meta) => { delete meta[star.id]; meta[star.id] = { page: star.page, title: star.title }; });
}

function forgetPage(id) {
  writeMeta((meta) => { delete meta[id]; });
}

function oneLine(text) {
  return typeof text === "string" ? text.replace(/\s+/g, " ").trim().slice(0, MAX_TITLE) : "";
}

// The account's stars as the in-memory copy: the server's list, each star's page (and a title
// the server lacks) from this browser, the writes still on their way on top.
function fromServer(papers) {
  const meta = readMeta();
  const browser = load(true);
  const found = new Map();
  for (const paper of papers) {
    const known = clean({ ...(meta[paper.id] || {}), id: paper.id }) || { title: "", page: "" };
    const here = browser.get(paper.id);
    const star = clean({
      id: paper.id,
      at: paper.starred_at,
      title: oneLine(paper.title) || known.title,
      page: known.page || (here ? here.page : ""),
    });
    if (star) found.set(star.id, star);
  }
  for (const [id, write] of pending) {
    if (!write.want) found.delete(id);
    else if (!found.has(id) && cache && cache.has(id)) found.set(id, cache.get(id));
  }
  return found;
}

function same(a, b) {
  if (!a || a.size !== b.size) return false;
  for (const [id, star] of b) {
    const other = a.get(id);
    if (!other || other.at !== star.at || other.title !== star.title || other.page !== star.page) return false;
  }
  return true;
}

async function fetchServer() {
  const response = await fetch("/api/stars?brief=1", { headers: { Accept: "application/json" } });
  if (!response.ok) {
    throw new Error(response.status === 401
      ? "your session has ended: log in again to see your stars"
      : `the server answered ${response.status}`);
  }
  const body = await response.json();
  if (!body || !Array.isArray(body.papers)) throw new Error("the server's answer was not a star list");
  return body.papers;
}

// Reads the account's stars (again): one read at a time, and one more after it when asked for
// meanwhile. A read that a write of this tab crossed (answered while the read was on its way)
// may predate it: it is read again rather than trusted. `cp:stars` when the stars changed.
function refetch() {
  if (refetching) {
    again = true;
    return refetching;
  }
  refetching = (async () => {
    for (let round = 0; round < MAX_READS; round += 1) {
      again = false;
      const generation = answered;
      try {
        const papers = await fetchServer();
        if (generation !== answered) {
          again = true;
        } else {
          failed = "";
          const fresh = fromServer(papers);
          const differs = !same(cache, fresh);
          cache = fresh;
          if (differs) changed();
        }
      } catch (err) {
        failed = err.message;
        console.warn("coolpapers: your stars could not be read:", err.message);
        if (cache === null) cache = new Map();
      }
      if (!again) break;
    }
  })().finally(() => { refetching = null; });
  return refetching;
}

let notice = null;

// A write the server refused, said where the reader is looking (above the bar), for a while.
function say(text) {
  if (!notice) {
    notice = document.createElement("p");
    notice.className = "star-toast";
    notice.setAttribute("role", "alert");
    notice.addEventListener("click", () => { notice.hidden = true; });
    document.body.append(notice);
  }
  notice.textContent = text;
  notice.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { notice.hidden = true; }, 8000);
}

function refusal(status, starring) {
  const what = starring ? "starred" : "un-starred";
  if (status === 401) return `Not ${what}: your session has ended. Log in again to keep your stars.`;
  if (status === 404) return `Not ${what}: this paper is not on this site.`;
  if (status === 0) return `Not ${what}: the site could not be reached. Try again.`;
  return `Not ${what}: the server answered ${status}. Try again.`;
}

// Sends the newest wish for `id` once the previous write of it is answered; `before` is the
// star as it was before this write (undefined: not starred), what a refusal puts back.
function send(id, want, before) {
  const previous = pending.get(id);
  const write = { want };
  pending.set(id, write);
  const after = previous ? previous.done.catch(() => {}) : Promise.resolve();
  write.done = after.then(async () => {
    let response;
    try {
      // an old-style id keeps its slash, as web.urls.api_star writes it
      response = await fetch(`/api/stars/${id.split("/").map(encodeURIComponent).join("/")}`, {
        method: want ? "PUT" : "DELETE",
        headers: { Accept: "application/json" },
      });
    } catch (err) {
      response = { ok: false, status: 0 };
    }
    answered += 1;
    const last = pending.get(id) === write;
    if (!response.ok) {
      if (last) {
        pending.delete(id);
        if (before) {
          cache.set(id, before);
          rememberPage(before);
        } else {
          cache.delete(id);
        }
        changed();
        refetch();  // and then the server's word, should an earlier write have failed too
      }
      say(refusal(response.status, want));
      throw new Error(refusal(response.status, want));
    }
    const body = await response.json().catch(() => ({}));
    if (last) {
      pending.delete(id);
      const star = cache.get(id);
      const at = isoOrNull(body.starred_at);
      if (want && star && at && star.at !== at) {  // starred before (another tab): its first time
        star.at = at;
        changed();
      }
    }
    if (channel) channel.postMessage({ id, starred: want });
  });
  return write.done;
}

function starOnServer(fresh) {
  const old = cache.get(fresh.id);
  if (old) {
    if ((old.title || !fresh.title) && (old.page || !fresh.page)) return Promise.resolve();
    old.title = old.title || fresh.title;
    old.page = old.page || fresh.page;
    rememberPage(old);
    return Promise.resolve();
  }
  cache.set(fresh.id, fresh);
  rememberPage(fresh);
  changed();
  return send(fresh.id, true, undefined);
}

function unstarOnServer(id) {
  const old = cache.get(id);
  if (!old) return Promise.resolve();
  cache.delete(id);
  forgetPage(id);
  changed();
  return send(id, false, old);
}

function startServer() {
  loading = refetch();
  if ("BroadcastChannel" in window) {
    channel = new BroadcastChannel(`${KEY}.${memberName()}`);
    // another tab of this browser wrote: read the list again (it has the server's times)
    channel.addEventListener("message", () => refetch());
  }
  // back to this tab: another browser (or a tab without the channel) may have starred meanwhile
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") refetch();
  });
}

// ---------------------------------------------------------------- the store, either one

function entries() {
  if (cache === null) {
    if (memberName()) {
      cache = new Map();
      startServer();
    } else {
      cache = load();
    }
  }
  return cache;
}

export function ready() {
  entries();
  return loading ? loading.then(() => {}) : Promise.resolve();
}

export function where() {
  return memberName() ? "account" : "browser";
}

export function failure() {
  return failed;
}

export function persistent() {
  entries();
  return memberName() ? true : writable;
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
  if (memberName()) {
    entries();
    return starOnServer(fresh);
  }
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
  if (memberName()) {
    entries();
    return unstarOnServer(id);
  }
  if (entries().delete(id)) {
    persist();
    changed();
  }
  return Promise.resolve();
}

export function toggle(id, info = {}) {
  return has(id) ? unstar(id).then(() => false) : star(id, info).then(() => true);
}

// ---------------------------------------------------------------- this browser's stars, for a member

// This browser's own stars (cp.stars), read for a member: what the first login offers to import
// (js/stars_import.js). browserOnly(): those the member's account has not (after ready()).
export function browserStars() {
  return memberName() ? [...load(true).values()] : [];
}

export function browserOnly() {
  return browserStars().filter((s) => !entries().has(s.id));
}

// Puts `stars` ([{id, at, title, page}]) in the member's account, in batches (a star the account
// has already keeps the earlier time); resolves to {imported, added, skipped: [ids]} (added: new
// to the account) once the account's stars are read again.
export async function importStars(stars) {
  if (!memberName()) throw new Error("only a logged-in member has an account to import into");
  let imported = 0;
  let added = 0;
  const skipped = [];
  for (let i = 0; i < stars.length; i += IMPORT_BATCH) {
    const batch = stars.slice(i, i + IMPORT_BATCH);
    const response = await fetch("/api/stars/import", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ stars: batch.map((s) => ({ id: s.id, at: s.at })) }),
    });
    if (!response.ok) throw new Error(refusal(response.status, true).replace("Not starred: ", ""));
    const body = await response.json();
    imported += body.imported || 0;
    added += body.added || 0;
    if (Array.isArray(body.skipped)) skipped.push(...body.skipped);
  }
  writeMeta((meta) => {
    for (const s of stars) if (s.page && !meta[s.id]) meta[s.id] = { page: s.page, title: s.title };
  });
  await refetch();
  if (channel) channel.postMessage({ imported });
  return { imported, added, skipped };
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
  starsImport.init();
  window.addEventListener("storage", (event) => {
    if (memberName()) return;  // a member's stars are the account's (their tabs: the channel)
    if (event.key !== KEY && event.key !== null) return;  // null: the whole store was cleared
    cache = load();
    changed();
  });
}
