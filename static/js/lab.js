// What the lab is reading, on every card: "★ 3 · alice, bob, carol" (p.metainfo.lab-stars after
// the authors) on a lab's instance, for its members only (body[data-member]): the names are
// the members', so GET /api/lab/stars?ids=… answers members alone.
//
// The cards on the page at load, and each batch lazy loading adds (cp:cards), are asked for in
// one request per 200 ids. Names come in the order the members starred; past three, the rest
// fold behind "+N" (a button that unfolds them). A card nobody starred has no line.
//
// The member's own star is the card's ☆/★ button (js/stars.js): when it changes (cp:stars), the
// line follows it at once (the member's name added or taken away, the count with it) and from
// then on, whatever an answer in flight says (it may have left before the star reached the
// server); the cards whose own star changed are asked again for the others'. Until then the
// line is the server's answer alone.
// /lab's cards come with the server's line for the week (p.lab-window): left as they are.
// Everything is built with textContent: names are the members' own text.

import * as stars from "./stars.js";

const MAX_IDS = 200;       // what the API takes at once (web/lab.py)
const SHOWN_NAMES = 3;     // names before "+N"

const answered = new Map();   // id -> member names as the server last answered ([] = none)
const seenMine = new Map();   // id -> the member's own star (stars.has) when last drawn
const decided = new Set();    // ids whose own star the member changed here: the line follows it
const asked = new Map();      // id -> the newest request that asked for it (later ones win)
let requests = 0;

function me() {
  return document.body.dataset.member || "";
}

function decorated(card) {
  return card.matches("div.paper[id]") && !card.querySelector(".lab-window");
}

function cardsIn(root) {
  const found = root.matches && root.matches("div.paper[id]")
    ? [root] : [...root.querySelectorAll("div.paper[id]")];
  return found.filter(decorated);
}

function names(id) {
  const server = answered.get(id) || [];
  if (!decided.has(id)) return server;
  const mine = me();
  const others = server.filter((name) => name !== mine);
  if (!stars.has(id)) return others;
  // where the server put the member's star (its time), else last: starred just now
  return server.includes(mine) ? server.slice() : [...others, mine];
}

function nameSpan(name) {
  const span = document.createElement("span");
  span.className = name === me() ? "lab-member me" : "lab-member";
  span.textContent = name;
  return span;
}

function appendNames(line, list) {
  list.forEach((name, n) => {
    if (n) line.append(", ");
    line.append(nameSpan(name));
  });
}

function draw(card) {
  const id = card.id;
  const list = names(id);
  seenMine.set(id, stars.has(id));
  let line = card.querySelector(":scope > p.lab-stars");
  if (!list.length) {
    if (line) line.remove();
    return;
  }
  if (!line) {
    line = document.createElement("p");
    line.className = "metainfo lab-stars";
    line.id = `lab-stars-${id}`;
    const authors = card.querySelector(":scope > p.authors");
    if (authors) authors.after(line);
    else card.append(line);
  }
  line.dataset.count = String(list.length);
  line.title = `starred in the lab by ${list.join(", ")}`;
  const count = document.createElement("strong");
  count.className = "lab-count";
  count.textContent = `★ ${list.length}`;
  line.replaceChildren(count, " · ");
  appendNames(line, list.slice(0, SHOWN_NAMES));
  const rest = list.slice(SHOWN_NAMES);
  if (rest.length) {
    const more = document.createElement("button");
    more.type = "button";
    more.className = "lab-more";
    more.textContent = `+${rest.length}`;
    more.title = rest.join(", ");
    more.setAttribute("aria-label", `${rest.length} more: ${rest.join(", ")}`);
    const fold = document.createElement("span");
    fold.className = "lab-fold";
    fold.append(" ", more);
    more.addEventListener("click", () => {
      const shown = document.createElement("span");
      shown.className = "lab-rest";
      shown.append(", ");
      appendNames(shown, rest);
      fold.replaceWith(shown);
    });
    line.append(fold);
  }
}

function drawId(id) {
  const card = document.getElementById(id);
  if (card && decorated(card)) draw(card);
}

async function ask(ids) {
  const wanted = [...new Set(ids)];
  for (let start = 0; start < wanted.length; start += MAX_IDS) {
    const chunk = wanted.slice(start, start + MAX_IDS);
    const request = ++requests;
    for (const id of chunk) {
      asked.set(id, request);
      if (!seenMine.has(id)) seenMine.set(id, stars.has(id));  // a change from here on is the member's
    }
    let papers;
    try {
      const url = `/api/lab/stars?ids=${chunk.map(encodeURIComponent).join(",")}`;
      const answer = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!answer.ok) throw new Error(`${answer.status} ${answer.statusText}`);
      papers = (await answer.json()).papers || {};
    } catch (err) {
      console.warn("coolpapers: the lab's stars could not be read", err);
      continue;
    }
    for (const id of chunk) {
      if (asked.get(id) !== request) continue;  // a newer request asked since: its answer wins
      const entry = papers[id];
      const list = entry && Array.isArray(entry.members) ? entry.members.filter((n) => typeof n === "string") : [];
      answered.set(id, list);
      drawId(id);
    }
  }
}

function askFor(root) {
  const ids = cardsIn(root).map((card) => card.id);
  return ids.length ? ask(ids) : Promise.resolve();
}

export function init() {
  if (!me() || document.body.dataset.auth === "none") return;
  // the member's stars first (their own name follows them); without them, the server's lines
  const started = stars.ready().catch(() => {}).then(() => askFor(document));
  document.addEventListener("cp:cards", (event) => {
    const cards = (event.detail && event.detail.cards) || [];
    started.then(() => ask(cards.filter((c) => c instanceof Element && decorated(c)).map((c) => c.id)));
  });
  document.addEventListener("cp:stars", () => {
    // the member's own star changed on some cards: show it now, then ask for the others'
    const changed = [];
    for (const card of cardsIn(document)) {
      if (!seenMine.has(card.id) || seenMine.get(card.id) === stars.has(card.id)) continue;
      decided.add(card.id);
      draw(card);
      changed.push(card.id);
    }
    if (changed.length) ask(changed);
  });
}
