// The reader's interests, kept in this browser (localStorage) — the one door to three keys:
//   cp.cats   {"follow": [cat…], "exclude": [cat…]}  categories followed (✓, subject +) or
//             excluded (−); a category is in at most one list; order = the order chosen
//   cp.prefs  [keyword…]                              preference keywords (the lists' ❤ sort)
//   cp.cloud  {word: weight}                          the personal word cloud
// Not a feature module (no init): cards.js (subject +/−) and home.js (chooser, Track) import it,
// as any module may import stars.js. Like stars.js it hides where the data lives, so accounts can
// move it to the server behind the same functions.

const CATS = "cp.cats";
const PREFS = "cp.prefs";
const CLOUD = "cp.cloud";

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

function write(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
    return true;
  } catch (err) {
    return false;  // full or refused: the page goes on, the choice is not kept
  }
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

export const KEYS = { CATS, PREFS, CLOUD };
