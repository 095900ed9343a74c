// What a lab's member has seen (body[data-member]; nothing happens for anonymous readers).
//
// Seen is per member and per paper (GET/POST/DELETE /api/seen, coolpapers/web/seen.py): a paper
// read in cs.LG shows as seen in cs.AI. Nothing is marked by scrolling past it — only by:
//   - "Mark all above as read" (button.mark-above under each listed card's date line): this card
//     and every card above it on the page, as Miniflux's "mark all items up to here as read";
//   - opening the paper's [PDF] or [FAQ] (cp:opened).
// A seen card gets class "seen" and a small "seen" marker in its title line; the marker is a
// button that makes it unread again. The settings panel's "Hide papers I have seen" (#hide-seen,
// kept in this browser per member) puts class "hide-seen" on the body; static/css/seen.css
// hides the listed seen cards then.
// On a day's list, a link near its head says how many papers of the spec's last announcement
// days are still unread and leads to /unread/{spec}, where missed days carry over.
// Cards on the page at load and each batch lazy loading adds (cp:cards) are asked about in one
// GET per 500 ids. Everything is built with createElement and textContent.

const API = "/api/seen";
const MAX_IDS = 500;  // what the API takes at once (web/seen.py)
const STORE_PREFIX = "cp.hideSeen.";

const seen = new Set();  // ids this member has seen, as far as this page knows
let member = "";
let unreadSpec = null;  // the day list's spec, as its feed link writes it
let recount = null;

export function init() {
  member = document.body.dataset.member || "";
  if (!member) return;
  hideSeenSetting();
  decorate([...document.querySelectorAll("div.paper[id]")]);
  document.addEventListener("cp:cards", (event) => {
    const cards = event.detail && Array.isArray(event.detail.cards) ? event.detail.cards : [];
    decorate(cards.filter((card) => card.matches && card.matches("div.paper[id]")));
  });
  document.addEventListener("cp:opened", (event) => {
    const id = event.detail && typeof event.detail.id === "string" ? event.detail.id : "";
    if (id && !seen.has(id)) mark([id]);
  });
  document.addEventListener("click", onClick);
  unreadLink();
}

// ------------------------------------------------------------------------------ the cards

function listed(card) {
  return Boolean(card.closest("div.papers"));
}

function decorate(cards) {
  for (const card of cards) {
    if (listed(card)) addMarkAbove(card);
    draw(card);
  }
  ask(cards.map((card) => card.id));
}

function addMarkAbove(card) {
  if (card.querySelector(":scope > button.mark-above")) return;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "mark-above";
  button.textContent = "Mark all above as read";
  button.title = "Mark this paper and every paper above it on this page as read";
  const date = card.querySelector(":scope > p.date");
  if (date) date.after(button);
  else card.append(button);
}

function draw(card) {
  const on = seen.has(card.id);
  card.classList.toggle("seen", on);
  let marker = card.querySelector(":scope > h2 > button.seen-mark");
  if (!on) {
    if (marker) marker.remove();
    return;
  }
  if (marker) return;
  marker = document.createElement("button");
  marker.type = "button";
  marker.className = "seen-mark";
  marker.textContent = "seen";
  marker.title = "You have seen this paper: click to mark it unread";
  const title = card.querySelector(":scope > h2");
  if (title) title.append(marker);
}

function drawIds(ids) {
  for (const id of ids) {
    const card = document.getElementById(id);
    if (card && card.matches("div.paper")) draw(card);
  }
}

function chunks(ids) {
  const unique = [...new Set(ids.filter(Boolean))];
  const out = [];
  for (let start = 0; start < unique.length; start += MAX_IDS) out.push(unique.slice(start, start + MAX_IDS));
  return out;
}

async function ask(ids) {
  for (const chunk of chunks(ids)) {
    const query = chunk.map((id) => encodeURIComponent(id)).join(",");
    let answer;
    try {
      const response = await fetch(`${API}?ids=${query}`, {
        credentials: "same-origin", headers: { Accept: "application/json" },
      });
      if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
      answer = await response.json();
    } catch (err) {
      console.warn("coolpapers: could not ask which papers you have seen:", err.message || err);
      continue;
    }
    const found = new Set(Array.isArray(answer.seen) ? answer.seen : []);
    for (const id of chunk) {
      if (found.has(id)) seen.add(id);
    }
    drawIds(chunk);
  }
}

async function send(method, ids) {
  for (const chunk of chunks(ids)) {
    const response = await fetch(API, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ ids: chunk }),
    });
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
  }
}

// Marked at once on the page; undone there if the server refuses.
async function mark(ids) {
  const fresh = ids.filter((id) => !seen.has(id));
  if (!fresh.length) return;
  for (const id of fresh) seen.add(id);
  drawIds(fresh);
  try {
    await send("POST", fresh);
  } catch (err) {
    for (const id of fresh) seen.delete(id);
    drawIds(fresh);
    console.warn("coolpapers: could not mark papers as seen:", err.message || err);
    return;
  }
  countAgain();
}

async function unmark(ids) {
  const gone = ids.filter((id) => seen.has(id));
  if (!gone.length) return;
  for (const id of gone) seen.delete(id);
  drawIds(gone);
  try {
    await send("DELETE", gone);
  } catch (err) {
    for (const id of gone) seen.add(id);
    drawIds(gone);
    console.warn("coolpapers: could not mark papers as unread:", err.message || err);
    return;
  }
  countAgain();
}

function onClick(event) {
  const button = event.target.closest && event.target.closest("button.mark-above, button.seen-mark");
  if (!button) return;
  const card = button.closest("div.paper[id]");
  if (!card) return;
  if (button.classList.contains("seen-mark")) {
    unmark([card.id]);
    return;
  }
  const cards = [...document.querySelectorAll("div.papers div.paper[id]")];
  const upto = cards.indexOf(card);
  if (upto < 0) return;
  mark(cards.slice(0, upto + 1).map((c) => c.id));
}

// ------------------------------------------------------------------------------ hide seen

function storage() {
  try {
    return window.localStorage;
  } catch (err) {
    return null;
  }
}

function hideSeenSetting() {
  const key = STORE_PREFIX + member;
  const store = storage();
  let on = false;
  try {
    on = store ? store.getItem(key) === "1" : false;
  } catch (err) {
    on = false;
  }
  document.body.classList.toggle("hide-seen", on);
  const box = document.getElementById("hide-seen");
  if (!box) return;
  box.checked = on;
  box.addEventListener("change", () => {
    document.body.classList.toggle("hide-seen", box.checked);
    try {
      if (store) store.setItem(key, box.checked ? "1" : "0");
    } catch (err) {
      console.warn("coolpapers: the hide-seen choice lasts for this page only:", err.name || err);
    }
  });
}

// ------------------------------------------------------------------------------ unread link

// The spec of a day's list, from its own feed link (/arxiv/{spec}/feed); null elsewhere.
function daySpec() {
  const feed = document.querySelector("section.listhead a.feed[href]");
  if (!feed) return null;
  const match = new URL(feed.href, location.href).pathname.match(/^\/arxiv\/([^/]+)\/feed$/);
  return match && match[1] !== "search" ? match[1] : null;
}

function dayName(iso) {
  const day = new Date(`${iso}T00:00:00Z`);
  if (Number.isNaN(day.getTime())) return iso;
  return day.toLocaleDateString("en-GB", { weekday: "short", day: "numeric", month: "short", timeZone: "UTC" });
}

async function unreadLink() {
  unreadSpec = daySpec();
  if (!unreadSpec) return;
  let answer;
  try {
    const response = await fetch(`/api/unread/${unreadSpec}?show=1`, {
      credentials: "same-origin", headers: { Accept: "application/json" },
    });
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    answer = await response.json();
  } catch (err) {
    console.warn("coolpapers: could not count the unread papers:", err.message || err);
    return;
  }
  const head = document.querySelector("section.listhead");
  if (!head) return;
  let line = head.querySelector("p.unread-link");
  const total = Number(answer.total) || 0;
  if (!total) {
    if (line) line.remove();
    return;
  }
  if (!line) {
    line = document.createElement("p");
    line.className = "unread-link";
    const info = head.querySelector(":scope > p.info");
    if (info) info.after(line);
    else head.append(line);
  }
  const link = document.createElement("a");
  link.href = `/unread/${unreadSpec}`;
  link.textContent = `${total.toLocaleString("en-US")} unread since ${dayName(String(answer.since))}`;
  link.title = "every paper of this list's last announcement days you have not seen, oldest first";
  line.replaceChildren(link);
}

function countAgain() {
  if (!unreadSpec) return;
  clearTimeout(recount);
  recount = setTimeout(unreadLink, 300);
}
