// In-page search over the cards on the page (papers.cool's bar button 2): include lines (any
// of them, or all with the AND switch), exclude lines, the fields to look in, <mark> highlights
// and "filter" to hide the cards that do not match. Ctrl/Cmd+F and "/" open it; `?query=a,b` on
// a list pre-fills it (one keyword per comma). Lazily loaded batches arrive through cp:cards.
//
// Matching is case- and accent-insensitive ("schrodinger" finds "Schrödinger"), one line is one
// keyword or phrase (its spaces match any run of white space). Formulas (MathML <math>) are
// neither searched nor marked: a <mark> inside <math> would break the formula.
//
// Speed (≤ 50 ms a keystroke over 1,000 cards): each card's field texts are read and folded once;
// a keystroke matches strings, then touches only the cards whose state changed. Marks go first
// into the cards near the viewport; the others are marked in idle time (or as they scroll in),
// so typing one letter of a common word does not wait for 40,000 marks nobody sees yet.
// #search-panel carries data-last-ms (input event to the DOM updated: classes, count, the marks
// near the viewport; the bench's figure), data-frame-ms (to the next frame, layout included),
// data-all-ms (to every card marked) and data-busy while marks are still pending.

const FIELDS = ["title", "authors", "summary", "subjects"];
const SEP = "\u0001"; // between the groups of a field (two authors): no phrase spans it
const MARKS = /\p{M}+/gu;
const ASCII = /^[\x00-\x7f]*$/;
const NEAR = "100% 0px"; // "near the viewport": one screen above and below
const SLICE_MS = 8; // the longest idle-time marking slice
const QUIET_MS = 300; // no keystroke for this long: the reader has stopped typing

let panel = null;
let include = null;
let exclude = null;
let andBox = null;
let filterBox = null;
let countEl = null;

const records = new Map(); // card element -> Record
let order = []; // the cards in the order they arrived
const near = new Set(); // cards near the viewport (IntersectionObserver)
let observer = null;

// the current query, rebuilt on each input
let state = { active: false, key: "", includes: [], excludes: [], and: false, filter: false, fields: [], markRe: null };
let idleHandle = 0;
let quietTimer = 0;
let warmHandle = 0;
let marksPending = false;
let prefilling = false;
let idleStart = 0;

class Record {
  constructor(card) {
    this.card = card;
    this.texts = null; // field -> folded text, read on first use
    this.groups = null; // field -> [[Text, ...], ...], the text nodes that may be marked
    this.matches = true;
    this.markedKey = ""; // what the card's marks show now ("" none)
    this.applied = []; // [{orig: Text, parts: Node[]}] to undo the marks
  }
}

// ---- text: what a field holds, folded for matching -------------------------------------------

function foldChar(ch) {
  return ch.toLowerCase().normalize("NFD").replace(MARKS, "");
}

const foldCache = new Map();

// `s` lower-cased and without accents; `map[i]` is the index in `s` of folded char i (null when
// the two line up one to one, as in plain ASCII).
function foldMapped(s) {
  if (ASCII.test(s)) return [s.toLowerCase(), null];
  let out = "";
  const map = [];
  let i = 0;
  for (const ch of s) {
    let f = foldCache.get(ch);
    if (f === undefined) {
      f = foldChar(ch);
      foldCache.set(ch, f);
    }
    out += f;
    for (let k = 0; k < f.length; k++) map.push(i);
    i += ch.length;
  }
  return [out, map];
}

function fold(s) {
  return ASCII.test(s) ? s.toLowerCase() : s.toLowerCase().normalize("NFD").replace(MARKS, "");
}

// The elements whose text makes up each field of a card; one element is one group.
function fieldElements(card, field) {
  switch (field) {
    case "title":
      return Array.from(card.querySelectorAll(".title-link"));
    case "authors":
      // every a.author of the card, those folded behind "et al." included
      return Array.from(card.querySelectorAll("a.author"));
    case "summary":
      return Array.from(card.querySelectorAll("p.summary"));
    case "subjects":
      return Array.from(card.querySelectorAll(".subjects a[data-cat]"));
    default:
      return [];
  }
}

function isFormula(el) {
  return el.localName === "math" || el.localName === "mjx-container";
}

const walkFilter = {
  acceptNode(node) {
    if (node.nodeType === Node.ELEMENT_NODE) {
      return isFormula(node) ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_SKIP;
    }
    return NodeFilter.FILTER_ACCEPT;
  },
};

function textNodes(el) {
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT, walkFilter);
  const nodes = [];
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.nodeType === Node.TEXT_NODE) nodes.push(n);
  }
  return nodes;
}

function readCard(rec) {
  if (rec.texts) return;
  rec.texts = {};
  rec.groups = {};
  for (const field of FIELDS) {
    const groups = fieldElements(rec.card, field).map(textNodes);
    rec.groups[field] = groups;
    const parts = groups.map((nodes) => fold(nodes.map((n) => n.data).join("")));
    if (field === "subjects") {
      // the codes too (cs.AI), which the page shows only as the links' titles
      for (const a of rec.card.querySelectorAll(".subjects a[data-cat]")) parts.push(fold(a.dataset.cat));
    }
    rec.texts[field] = parts.join(SEP);
  }
}

// ---- the query ---------------------------------------------------------------------------------

function escapeRe(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// one line -> a pattern over folded text ("" when the line is blank)
function linePattern(line) {
  const words = fold(line.trim()).split(/\s+/).filter(Boolean);
  return words.map(escapeRe).join("\\s+");
}

function terms(text) {
  const seen = new Set();
  for (const line of text.split("\n")) {
    const p = linePattern(line);
    if (p) seen.add(p);
  }
  return Array.from(seen);
}

function readQuery() {
  const inc = terms(include.value);
  const exc = terms(exclude.value);
  const fields = Array.from(panel.querySelectorAll("input[name=field]"))
    .filter((b) => b.checked)
    .map((b) => b.value)
    .filter((f) => FIELDS.includes(f));
  // longest first, so a phrase wins over a word it starts with
  const byLength = [...inc].sort((a, b) => b.length - a.length);
  return {
    active: inc.length > 0 || exc.length > 0,
    key: inc.length ? `${fields.join(",")}|${byLength.join("|")}` : "",
    includes: inc.map((p) => new RegExp(p)),
    excludes: exc.map((p) => new RegExp(p)),
    and: andBox.checked,
    filter: filterBox.checked,
    fields,
    markRe: inc.length ? new RegExp(byLength.join("|"), "g") : null,
  };
}

function anyField(rec, re, fields) {
  for (const f of fields) if (re.test(rec.texts[f])) return true;
  return false;
}

function matches(rec, q) {
  if (!q.active) return true;
  readCard(rec);
  if (q.includes.length) {
    const hit = (re) => anyField(rec, re, q.fields);
    if (q.and ? !q.includes.every(hit) : !q.includes.some(hit)) return false;
  }
  return !q.excludes.some((re) => anyField(rec, re, q.fields));
}

// ---- marks -------------------------------------------------------------------------------------

function unmark(rec) {
  for (const { orig, parts } of rec.applied) {
    const first = parts[0];
    if (first.parentNode) {
      first.parentNode.insertBefore(orig, first);
      for (const p of parts) p.remove();
    }
  }
  rec.applied = [];
}

// Marks every match of the query in one group (the text nodes of one element, read as one
// string, so a phrase across a node boundary is marked piecewise).
function markGroup(rec, nodes, re) {
  const folded = [];
  let text = "";
  for (const n of nodes) {
    const [f, map] = foldMapped(n.data);
    folded.push({ node: n, start: text.length, folded: f, map });
    text += f;
  }
  const ranges = []; // [start, end) in `text`
  re.lastIndex = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    ranges.push([m.index, m.index + m[0].length]);
  }
  if (!ranges.length) return;
  let r = 0;
  for (const { node, start, folded: f, map } of folded) {
    const end = start + f.length;
    const cuts = []; // [from, to) in the node's own text
    while (r < ranges.length && ranges[r][0] < end) {
      const a = Math.max(ranges[r][0], start) - start;
      const b = Math.min(ranges[r][1], end) - start;
      const from = map ? map[a] : a;
      const to = map ? (b < map.length ? map[b] : node.data.length) : b;
      if (to > from) cuts.push([from, to]);
      if (ranges[r][1] > end) break; // the match goes on in the next node
      r++;
    }
    if (cuts.length) splitMarked(rec, node, cuts);
  }
}

function splitMarked(rec, node, cuts) {
  const data = node.data;
  const parts = [];
  let at = 0;
  for (const [from, to] of cuts) {
    if (from > at) parts.push(document.createTextNode(data.slice(at, from)));
    const mark = document.createElement("mark");
    mark.className = "insearch";
    mark.textContent = data.slice(from, to);
    parts.push(mark);
    at = to;
  }
  if (at < data.length) parts.push(document.createTextNode(data.slice(at)));
  const parent = node.parentNode;
  for (const p of parts) parent.insertBefore(p, node);
  node.remove();
  rec.applied.push({ orig: node, parts });
}

function wantedKey(rec) {
  return rec.matches ? state.key : "";
}

function refreshMarks(rec) {
  const want = wantedKey(rec);
  if (rec.markedKey === want) return;
  unmark(rec);
  if (want) {
    // another script may have rewritten a field since it was read (the card's own text nodes
    // are all back in place once unmarked): read it again then
    if (rec.groups && !FIELDS.every((f) => rec.groups[f].every((nodes) => nodes.every((n) => n.isConnected)))) {
      rec.texts = null;
    }
    readCard(rec);
    for (const field of state.fields) {
      for (const nodes of rec.groups[field]) markGroup(rec, nodes, state.markRe);
    }
  }
  rec.markedKey = want;
}

// ---- updating the page -------------------------------------------------------------------------

function setCount(shown, total) {
  countEl.textContent = state.active ? `${shown} of ${total} paper${total === 1 ? "" : "s"} match` : "";
}

function applyCard(rec) {
  const hide = state.active && state.filter && !rec.matches;
  if (rec.card.classList.contains("filtered-out") !== hide) rec.card.classList.toggle("filtered-out", hide);
}

function update(t0) {
  state = readQuery();
  let shown = 0;
  let total = 0;
  const live = [];
  for (const card of order) {
    if (!card.isConnected) {
      forget(card);
      continue;
    }
    live.push(card);
    const rec = records.get(card);
    rec.matches = matches(rec, state);
    applyCard(rec);
    total++;
    if (rec.matches) shown++;
  }
  order = live;
  setCount(shown, total);
  for (const card of near) refreshMarks(records.get(card));
  const bar = document.getElementById("bar-search");
  if (bar) bar.classList.toggle("searching", state.active);
  if (t0 !== undefined) {
    panel.dataset.lastMs = (performance.now() - t0).toFixed(1);
    // and to the next frame, style and layout included (after its paint, roughly)
    requestAnimationFrame(() => setTimeout(() => (panel.dataset.frameMs = (performance.now() - t0).toFixed(1)), 0));
  }
  scheduleRest(t0);
}

// the cards not near the viewport, marked when the browser is idle
function scheduleRest(t0) {
  idleStart = t0 === undefined ? performance.now() : t0;
  marksPending = true;
  syncBusy();
  // while the reader types, the off-screen marks wait: the next keystroke would redo them
  clearTimeout(quietTimer);
  quietTimer = setTimeout(() => {
    quietTimer = 0;
    if (!idleHandle) idleHandle = requestIdle(markRest);
  }, QUIET_MS);
}

function requestIdle(fn) {
  return window.requestIdleCallback ? window.requestIdleCallback(fn, { timeout: 200 }) : window.setTimeout(() => fn(null), 16);
}

function markRest(deadline) {
  idleHandle = 0;
  if (quietTimer) return; // typing again: resumed once it stops
  // short slices, so that a keystroke never waits long behind one
  const until = performance.now() + SLICE_MS;
  const timeLeft = () => performance.now() < until && (!deadline || deadline.didTimeout || deadline.timeRemaining() > 1);
  for (const card of order) {
    const rec = records.get(card);
    if (rec && rec.markedKey !== wantedKey(rec)) {
      if (!timeLeft()) {
        idleHandle = requestIdle(markRest);
        return;
      }
      refreshMarks(rec);
    }
  }
  marksPending = false;
  syncBusy();
  panel.dataset.allMs = (performance.now() - idleStart).toFixed(1);
}

// data-busy: marks still to place or cards still to read (tests and the bench wait for quiet)
function syncBusy() {
  if (marksPending || warmHandle) panel.dataset.busy = "1";
  else delete panel.dataset.busy;
}

// The cards' texts read ahead in idle time, so that neither opening the search nor its first
// keystroke pays for reading 1,000 cards (~150 ms); a keystroke before the end reads the rest.
function warm(deadline) {
  warmHandle = 0;
  const until = performance.now() + SLICE_MS;
  for (const rec of records.values()) {
    if (rec.texts) continue;
    if (performance.now() >= until || (deadline && !deadline.didTimeout && deadline.timeRemaining() <= 1)) {
      warmHandle = requestIdle(warm);
      return;
    }
    readCard(rec);
  }
  syncBusy();
}

function warmLater() {
  if (!warmHandle) warmHandle = requestIdle(warm);
  syncBusy();
}

function forget(card) {
  records.delete(card);
  near.delete(card);
  if (observer) observer.unobserve(card);
}

function adopt(cards) {
  const fresh = [];
  for (const card of cards) {
    if (!(card instanceof Element) || !card.matches("div.paper") || records.has(card)) continue;
    records.set(card, new Record(card));
    order.push(card);
    fresh.push(card);
    if (observer) observer.observe(card);
  }
  return fresh;
}

// new cards (lazy loading): only they are read and matched; the count covers the page
function onCards(event) {
  const fresh = new Set(adopt((event.detail && event.detail.cards) || []));
  if (!fresh.size) return;
  if (!state.active) {
    warmLater();
    return;
  }
  let shown = 0;
  let total = 0;
  for (const card of order) {
    const rec = records.get(card);
    if (!rec || !card.isConnected) continue;
    if (fresh.has(card)) {
      rec.matches = matches(rec, state);
      applyCard(rec);
    }
    total++;
    if (rec.matches) shown++;
  }
  setCount(shown, total);
  scheduleRest();
}

function onNear(entries) {
  for (const e of entries) {
    if (e.isIntersecting) {
      near.add(e.target);
      const rec = records.get(e.target);
      if (rec) refreshMarks(rec); // a card scrolled in before the idle pass reached it
    } else {
      near.delete(e.target);
    }
  }
}

// ---- opening ------------------------------------------------------------------------------------

function openPanel() {
  if (panel.hidden) {
    const button = document.getElementById("bar-search");
    if (button) button.click(); // the bar (static/js/bar.js) opens its panels
    if (panel.hidden) {
      // no bar script: open it here so the search still works
      panel.hidden = false;
      if (button) button.setAttribute("aria-expanded", "true");
    }
  }
}

function openSearch() {
  openPanel();
  include.focus();
  include.select();
}

function onKey(event) {
  if (event.defaultPrevented || event.altKey || event.shiftKey) return;
  if (!(event.ctrlKey || event.metaKey) || event.key.toLowerCase() !== "f") return;
  // a second press, with the search already in hand, is the browser's own find
  if (!panel.hidden && document.activeElement === include) return;
  event.preventDefault();
  openSearch();
}

// papers.cool: `?query=` on a list page is an in-page filter. Comma-separated keywords (as
// [REL] writes them), one per include line. On the site search page `query` is the search itself.
function prefill() {
  if (/\/search\/?$/.test(location.pathname)) return false;
  const query = new URLSearchParams(location.search).get("query");
  if (!query || !query.trim()) return false;
  include.value = query
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean)
    .join("\n");
  // shown, not focused: the reader came to read the list (j/k work at once)
  prefilling = true;
  try {
    openPanel();
  } finally {
    prefilling = false;
  }
  return true;
}

export function init() {
  panel = document.getElementById("search-panel");
  include = document.getElementById("search-include");
  exclude = document.getElementById("search-exclude");
  andBox = document.getElementById("search-and");
  filterBox = document.getElementById("search-filter");
  countEl = panel && panel.querySelector(".search-count");
  if (!panel || !include || !exclude || !andBox || !filterBox || !countEl) return;

  if ("IntersectionObserver" in window) observer = new IntersectionObserver(onNear, { rootMargin: NEAR });
  adopt(document.querySelectorAll("div.paper"));

  const onInput = (event) => update(event.timeStamp);
  include.addEventListener("input", onInput);
  exclude.addEventListener("input", onInput);
  panel.addEventListener("change", (event) => {
    if (event.target instanceof HTMLInputElement && event.target.type === "checkbox") update(event.timeStamp);
  });
  document.addEventListener("cp:cards", onCards);
  document.addEventListener("keydown", onKey);
  // the first keystroke should not pay for reading 1,000 cards: read them once the panel opens
  document.addEventListener("cp:panel", (event) => {
    if (!event.detail || event.detail.id !== "search-panel" || !event.detail.open) return;
    if (!prefilling) include.focus(); // opened by the reader: ready to type
  });

  if (prefill()) update();
  warmLater();
}
