// /stars: every paper the reader starred, newest first, with when it was starred, and a filter
// over their titles, authors and abstracts. The list is js/stars.js's: this browser's stars,
// or a logged-in member's from their account (GET /api/stars; the page says which).
//
// The cards are the server's own markup: the comma-id page of 25 ids at a time
// (/arxiv/<id>,<id>,…?fragment=1 answers with only the cards, templates/_cards.html; a server
// that answers with the whole page works the same: the cards are read out of it). Each batch
// is put on the page in the store's order and announced with `cp:cards`, so the star buttons,
// math and the other card features apply. A paper the site no longer knows keeps a line with
// its stored title, its link and its star.
import * as stars from "./stars.js";

const BATCH = 25;

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function two(n) {
  return String(n).padStart(2, "0");
}

function localTime(iso) {
  const t = new Date(iso);
  return `${t.getFullYear()}-${two(t.getMonth() + 1)}-${two(t.getDate())} ${two(t.getHours())}:${two(t.getMinutes())}`;
}

function starredLine(star) {
  const line = el("p", "metainfo starred-at");
  line.append(el("strong", "", "Starred"), ": ");
  if (star.at) {
    const time = el("time", "", localTime(star.at));
    time.dateTime = star.at;
    line.append(time);
  } else {
    line.append("at an unknown time");
  }
  return line;
}

// A star whose paper did not come back (unknown id, arXiv unreachable): still listed, so it
// can be opened or un-starred.
function missingCard(star, why) {
  const box = el("div", "panel star-missing");
  box.dataset.paper = star.id;
  const head = el("h2", "title");
  const link = el("a", "title-link", star.title || star.id);
  link.href = `/arxiv/${encodeURI(star.id)}`;
  const button = el("button", "star js-only");
  button.type = "button";
  button.dataset.paper = star.id;
  button.setAttribute("aria-pressed", "true");
  button.setAttribute("aria-label", `star ${star.id}`);
  head.append(link, " ", button);
  box.append(head, el("p", "metainfo", `${star.id}: ${why}`), starredLine(star));
  return box;
}

async function fetchCards(ids) {
  // show: the batch whole, whatever the site's page size
  const url = `/arxiv/${ids.map((id) => encodeURI(id)).join(",")}?fragment=1&show=${ids.length}`;
  const response = await fetch(url, { headers: { Accept: "text/html" } });
  const found = new Map();
  if (!response.ok && response.status !== 404) throw new Error(`${response.status} ${response.statusText}`);
  const doc = new DOMParser().parseFromString(await response.text(), "text/html");
  for (const card of doc.querySelectorAll("div.paper[id]")) found.set(card.id, card);
  return found;
}

export function init() {
  const box = document.getElementById("stars-cards");
  if (!box) return;
  const filter = document.getElementById("stars-filter");
  const counter = document.querySelector(".stars-count");
  const status = document.querySelector(".stars-status");
  const empty = document.querySelector(".stars-empty");
  const shown = new Map();      // id -> element on the page
  const texts = new WeakMap();  // element -> its searchable text, lower-cased
  let loading = 0;

  function words() {
    return (filter ? filter.value : "").toLowerCase().split(/\s+/).filter(Boolean);
  }

  function textOf(node, star) {
    let text = texts.get(node);
    if (text === undefined) {
      const parts = [star.title, star.id];
      for (const part of node.querySelectorAll(".title, .authors, .summary")) parts.push(part.textContent);
      text = parts.join(" ").replace(/\s+/g, " ").toLowerCase();
      texts.set(node, text);
    }
    return text;
  }

  function applyFilter() {
    const wanted = words();
    let visible = 0;
    for (const [id, node] of shown) {
      const star = stars.get(id) || { id, title: "" };
      const match = wanted.every((w) => textOf(node, star).includes(w));
      node.hidden = !match;
      if (match) visible += 1;
    }
    if (counter) {
      counter.textContent = !shown.size ? "" : wanted.length
        ? `${visible} of ${shown.size} starred papers` : `${shown.size} starred paper${shown.size === 1 ? "" : "s"}`;
    }
  }

  function say(text) {
    if (status) status.textContent = text;
  }

  function settle() {
    if (empty) empty.hidden = shown.size > 0 || loading > 0 || Boolean(stars.failure());
    if (!loading && !stars.persistent()) {
      say("This browser does not let the site keep data: stars made here last until you leave the page.");
    } else if (!loading && status && status.dataset.kind !== "error") {
      say("");
    }
    applyFilter();
  }

  // Puts the cards of `batch` (stars, newest first) on the page: after `after`, or first.
  async function show(batch, placeAtTop) {
    loading += 1;
    let found;
    let why = "not known to this site";
    try {
      found = await fetchCards(batch.map((s) => s.id));
    } catch (err) {
      found = new Map();
      why = `could not be loaded (${err.message}); reload to try again`;
      if (status) status.dataset.kind = "error";
      say(`Some starred papers could not be loaded: ${err.message}.`);
    }
    const nodes = [];
    const cards = [];
    for (const star of batch) {
      if (shown.has(star.id)) continue;
      const source = found.get(star.id);
      let node;
      if (source) {
        node = document.importNode(source, true);
        const date = node.querySelector("p.date");
        const line = starredLine(star);
        if (date) date.after(line); else node.append(line);
        cards.push(node);
      } else {
        node = missingCard(star, why);
      }
      shown.set(star.id, node);
      nodes.push(node);
    }
    if (placeAtTop) box.prepend(...nodes); else box.append(...nodes);
    // the running number of each card, newest star first (each batch numbered itself from 1)
    let n = 0;
    for (const node of box.children) {
      n += 1;
      const index = node.querySelector(".index");
      if (index) index.textContent = `#${n}`;
    }
    loading -= 1;
    settle();
    if (cards.length) document.dispatchEvent(new CustomEvent("cp:cards", { detail: { cards } }));
  }

  async function showAll(list, placeAtTop) {
    const batches = [];
    for (let i = 0; i < list.length; i += BATCH) batches.push(list.slice(i, i + BATCH));
    // newest at the top: when adding above, the oldest batch goes in first
    if (placeAtTop) batches.reverse();
    for (const batch of batches) await show(batch, placeAtTop);
  }

  if (filter) filter.addEventListener("input", applyFilter);

  stars.ready().then(async () => {
    const list = stars.list();
    if (stars.failure()) {
      if (status) status.dataset.kind = "error";
      say(`Your stars could not be read: ${stars.failure()}.`);
    }
    if (list.length) {
      say(`Loading ${list.length} starred paper${list.length === 1 ? "" : "s"}…`);
      await showAll(list, false);
    } else {
      settle();
    }
    // starred meanwhile (in another tab, or again here): on top, as the newest. Un-starred
    // cards stay, their star off, so a slip can be undone.
    document.addEventListener("cp:stars", () => {
      const added = stars.list().filter((s) => !shown.has(s.id));
      if (added.length) showAll(added, true);
    });
  });
}
