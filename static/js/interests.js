// The reader's interests — the one door to them:
//   cp.cats   {"follow": [cat…], "exclude": [cat…]}  categories followed (✓, subject +) or
//             excluded (−); a category is in at most one list; order = the order chosen
//   cp.prefs  [keyword…]                              preference keywords (the lists' ❤ sort)
//   cp.cloud  {word: weight}                          the personal word cloud
//   faq-lang  "zh" | "en"                             the FAQ language (faq.js's select)
// Not a feature module (no init): cards.js (subject +/−), home.js (chooser, Track) and faq.js
// import it, as any module may import stars.js.
//
// Where they live: in this browser (localStorage), or, for a member logged in to a lab's
// instance (body[data-member]), in their account too (GET/PUT /api/settings: the language,
// the categories and the keywords; the cloud stays in the browser). For a member localStorage
// is the cache the functions below read synchronously: on start the account's settings are
// loaded into it (then `cp:settings` is dispatched on document: a module showing them reads
// them again), and every change is written through, one PUT after another with the latest
// values. An account that never stored any takes this browser's own (not another member's
// left here: "cp.settings.owner" says whose the cache holds).

const CATS = "cp.cats";
const PREFS = "cp.prefs";
const CLOUD = "cp.cloud";
const FAQ_LANG = "faq-lang";  // a bare string, not JSON (as faq.js always stored it)
const OWNER = "cp.settings.owner";  // the member whose settings the keys hold ("" or none: ours)
const SETTINGS_URL = "/api/settings";
const MEMBER = (document.body && document.body.dataset.member) || "";
// what the server accepts (coolpapers/web/member_settings.py); past it a value stays local
const MAX_CATS = 200;
const MAX_PREFS = 100;
const MAX_PREF_CHARS = 40;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

// papers.cool's cloud keeps at most 300 words: past that every weight halves and what falls
// below 1 goes (the older interests fade, the strong ones stay).
export const CLOUD_MAX = 300;

// arXiv category and archive ids: cs.AI, hep-th, astro-ph.GA, cond-mat.str-el, physics.acc-ph.
// Anything else in the store (an old format, a hand edit) is dropped rather than put in a URL.
const CATEGORY = /^[a-z]+(?:-[a-z]+)?(?:\.[A-Za-z]+(?:-[a-z]+)?)?$/;

function read(key, fallback) {
  try {
    const raw = localStorage.getItem(key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch (err) {
    return fallback;  // unreadable JSON or storage refused (private mode): start afresh
  }
}

function store(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
    return true;
  } catch (err) {
    return false;  // full or refused: the page goes on, the choice is not kept
  }
}

function write(key, value) {
  const kept = store(key, value);
  if (key !== CLOUD) push();
  return kept;
}

export function isCategory(text) {
  return typeof text === "string" && CATEGORY.test(text);
}

function cleanCats(list, taken) {
  const out = [];
  for (const cat of Array.isArray(list) ? list : []) {
    if (isCategory(cat) && !taken.has(cat)) { out.push(cat); taken.add(cat); }
  }
  return out;
}

/** {follow: [...], exclude: [...]}, valid ids only, each in one list at most. */
export function cats() {
  const raw = read(CATS, {});
  const taken = new Set();
  const follow = cleanCats(raw && raw.follow, taken);
  const exclude = cleanCats(raw && raw.exclude, taken);
  return { follow, exclude };
}

/** "follow", "exclude" or "" (neither). */
export function catState(cat) {
  const { follow, exclude } = cats();
  return follow.includes(cat) ? "follow" : exclude.includes(cat) ? "exclude" : "";
}

/** Puts ``cat`` in one list (or none, for ""); a category keeps its place when its state stays. */
export function setCat(cat, state) {
  if (!isCategory(cat)) return false;
  const { follow, exclude } = cats();
  if (catState(cat) === state) return true;
  const next = {
    follow: follow.filter((c) => c !== cat),
    exclude: exclude.filter((c) => c !== cat),
  };
  if (state === "follow") next.follow.push(cat);
  else if (state === "exclude") next.exclude.push(cat);
  return write(CATS, next);
}

export function clearCats() {
  return write(CATS, { follow: [], exclude: [] });
}

/** Keywords from free text: one per line or comma-separated, trimmed, first spelling kept. */
export function parseKeywords(text) {
  const seen = new Set();
  const out = [];
  for (const part of String(text).split(/[\n,]/)) {
    const word = part.replace(/\s+/g, " ").trim();
    const key = word.toLowerCase();
    if (word && !seen.has(key)) { seen.add(key); out.push(word); }
  }
  return out;
}

export function prefs() {
  const raw = read(PREFS, []);
  return Array.isArray(raw) ? parseKeywords(raw.filter((w) => typeof w === "string").join("\n")) : [];
}

export function setPrefs(words) {
  return write(PREFS, parseKeywords(words.join("\n")));
}

/** Adds words the reader does not have yet (case-insensitively); returns the new list. */
export function addPrefs(words) {
  const next = parseKeywords([...prefs(), ...words].join("\n"));
  setPrefs(next);
  return next;
}

export function cloud() {
  const raw = read(CLOUD, {});
  const out = {};
  if (raw && typeof raw === "object" && !Array.isArray(raw)) {
    for (const [word, weight] of Object.entries(raw)) {
      if (word.trim() && typeof weight === "number" && weight > 0 && Number.isFinite(weight)) out[word] = weight;
    }
  }
  return out;
}

/**
 * One paper's keywords into the cloud: +1 each. When the cloud would pass CLOUD_MAX words the
 * words already there decay first (halved, those under 1 dropped, repeated until it fits), so
 * the paper just opened is in the cloud afterwards.
 */
export function growCloud(words) {
  const weights = cloud();
  const fresh = [...new Set(words.map((w) => String(w).trim().toLowerCase()).filter(Boolean))];
  const size = () => new Set([...Object.keys(weights), ...fresh]).size;
  while (size() > CLOUD_MAX && Object.keys(weights).length) {
    for (const word of Object.keys(weights)) {
      weights[word] /= 2;
      if (weights[word] < 1) delete weights[word];
    }
  }
  for (const word of fresh) weights[word] = (weights[word] || 0) + 1;
  write(CLOUD, weights);
  return weights;
}

export function clearCloud() {
  return write(CLOUD, {});
}

/** The n heaviest words, heaviest first (ties alphabetical, so the choice is stable). */
export function topWords(n) {
  return Object.entries(cloud())
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, n)
    .map(([word]) => word);
}

/** The FAQ language chosen in this browser (or the account's), null when never chosen. */
export function faqLang() {
  let value = null;
  try { value = localStorage.getItem(FAQ_LANG); } catch { /* storage blocked */ }
  return value === "zh" || value === "en" ? value : null;
}

/** Keeps the FAQ language (and, for a member, writes it through); false when not stored. */
export function setFaqLang(value) {
  if (value !== "zh" && value !== "en") return false;
  if (faqLang() === value) return true;
  let kept = true;
  try { localStorage.setItem(FAQ_LANG, value); } catch { kept = false; }
  push();
  return kept;
}

// ---------------------------------------------------------------- a member's, on the server

function owner() {
  try { return localStorage.getItem(OWNER) || ""; } catch { return ""; }
}

function own() {
  try { localStorage.setItem(OWNER, MEMBER); } catch { /* the cache is the page's */ }
}

function defaultLang() {
  return (navigator.language || "").startsWith("zh") ? "zh" : "en";
}

/** The settings as PUT /api/settings takes them: what the server would refuse stays local. */
export function payload() {
  const { follow, exclude } = cats();
  const categories = [...follow, ...exclude.map((c) => `-${c}`)].slice(0, MAX_CATS);
  const words = prefs().filter((w) => w.length <= MAX_PREF_CHARS && !CONTROL.test(w) && !w.includes(","));
  return { faq_lang: faqLang() || defaultLang(), categories, prefs: words.slice(0, MAX_PREFS) };
}

function apply(data) {
  const categories = Array.isArray(data.categories) ? data.categories.filter((c) => typeof c === "string") : [];
  store(CATS, {
    follow: categories.filter((c) => !c.startsWith("-")),
    exclude: categories.filter((c) => c.startsWith("-")).map((c) => c.slice(1)),
  });
  store(PREFS, Array.isArray(data.prefs) ? data.prefs.filter((w) => typeof w === "string") : []);
  try {
    if (data.faq_lang === "zh" || data.faq_lang === "en") localStorage.setItem(FAQ_LANG, data.faq_lang);
    else localStorage.removeItem(FAQ_LANG);
  } catch { /* storage blocked: the page shows the defaults */ }
  own();
}

let dirty = false;     // a change not yet sent
let pushing = null;    // the running write-through, if any

async function load() {
  try {
    const response = await fetch(SETTINGS_URL, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const data = await response.json();
    if (dirty) return true;  // changed meanwhile on this page: that is newer, it goes up next
    if (data.faq_lang === null) {
      // never stored: this browser's own settings become the account's; another member's
      // left in this browser do not
      if (owner() === "" || owner() === MEMBER) dirty = true;
      else apply(data);
      own();
    } else {
      apply(data);
    }
    document.dispatchEvent(new CustomEvent("cp:settings", { detail: payload() }));
    return true;
  } catch (err) {
    console.warn("coolpapers: the account's settings could not be read; this browser's are used", err);
    return false;
  }
}

/** Settled once the keys hold the account's settings (at once for an anonymous reader). */
export const ready = MEMBER ? load() : Promise.resolve(false);
if (MEMBER) ready.then(() => { if (dirty) push(); });

async function sendAll() {
  await ready;  // the account's first: a change made before they arrived is sent after
  try {
    while (dirty) {
      dirty = false;
      const response = await fetch(SETTINGS_URL, {
        method: "PUT",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(payload()),
      });
      if (!response.ok) {
        console.warn(`coolpapers: the account refused these settings (HTTP ${response.status}); kept in this browser`);
        break;
      }
      own();
    }
  } catch (err) {
    dirty = true;  // the network: the next change tries again with everything
    console.warn("coolpapers: settings not saved to the account; kept in this browser", err);
  } finally {
    pushing = null;
  }
}

/** Writes the settings through to the account (a member's page only); resolves when sent. */
export function push() {
  if (!MEMBER) return Promise.resolve();
  dirty = true;
  if (!pushing) pushing = sendAll();
  return pushing;
}

/** Resolves once every change made so far has been sent (at once when none is pending). */
export function saved() {
  return pushing || Promise.resolve();
}

export const KEYS = { CATS, PREFS, CLOUD, FAQ_LANG };
