// Keyboard: j/k next/previous card, s star, p PDF, f FAQ, c copy, / search this page, ? help.
//
// j/k move a "current card" (div.paper.current, outlined by static/css/reading.css) and scroll
// it to the top; without one, or when the reader has scrolled away from it, they start from the
// card at the top of the viewport. Cards hidden by the in-page search's filter are skipped. s, p,
// f and c click the current card's own buttons, so each keeps its behaviour (static/js/stars.js,
// pdf.js, faq.js, cards.js). Keys typed into a field, or with Ctrl/Alt/Meta, are the browser's.

const KEYS = [
  ["j", "next paper"],
  ["k", "previous paper"],
  ["s", "star or un-star the paper"],
  ["p", "open or close its PDF"],
  ["f", "open or close its FAQ"],
  ["c", "copy its title, authors, link and abstract"],
  ["/", "search this page (Ctrl+F too; again for the browser's own)"],
  ["?", "this help"],
];
const ACTIONS = { s: "button.star", p: "a.title-pdf", f: "a.title-faq", c: "button.title-copy" };

let help = null;

function typing(target) {
  if (!(target instanceof Element)) return false;
  return target.closest("input, textarea, select, [contenteditable]:not([contenteditable=false])") !== null;
}

function shown(card) {
  return card.isConnected && !card.hidden && !card.classList.contains("filtered-out") && card.getClientRects().length > 0;
}

function visibleCards() {
  return Array.from(document.querySelectorAll("div.paper")).filter(shown);
}

// the first card whose bottom is below the top of the viewport: the one being read
function topCard(cards) {
  let lo = 0;
  let hi = cards.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cards[mid].getBoundingClientRect().bottom > 1) hi = mid;
    else lo = mid + 1;
  }
  return lo < cards.length ? lo : cards.length - 1;
}

function inView(card) {
  const r = card.getBoundingClientRect();
  return r.bottom > 0 && r.top < window.innerHeight;
}

function setCurrent(card) {
  for (const old of document.querySelectorAll("div.paper.current")) {
    if (old !== card) old.classList.remove("current");
  }
  card.classList.add("current");
}

function move(step) {
  const cards = visibleCards();
  if (!cards.length) return false;
  const current = document.querySelector("div.paper.current");
  const at = current ? cards.indexOf(current) : -1;
  let next;
  if (at < 0 || !inView(current)) {
    next = topCard(cards); // start where the reader is
  } else {
    next = Math.min(cards.length - 1, Math.max(0, at + step));
  }
  const card = cards[next];
  setCurrent(card);
  card.scrollIntoView({ block: "start" });
  return true;
}

// the card the action is for: the current one, else the one at the top of the viewport
function target() {
  const current = document.querySelector("div.paper.current");
  if (current && shown(current)) return current;
  const cards = visibleCards();
  if (!cards.length) return null;
  const card = cards[topCard(cards)];
  setCurrent(card);
  return card;
}

function act(selector) {
  const card = target();
  const el = card && card.querySelector(selector);
  if (!el) return false;
  el.click();
  return true;
}

function openSearch() {
  const panel = document.getElementById("search-panel");
  const include = document.getElementById("search-include");
  if (!panel || !include) return false;
  if (panel.hidden) {
    const button = document.getElementById("bar-search");
    if (button) button.click(); // the bar (static/js/bar.js) opens its panels
    if (panel.hidden) {
      panel.hidden = false;
      if (button) button.setAttribute("aria-expanded", "true");
    }
  }
  include.focus();
  include.select();
  return true;
}

function helpDialog() {
  if (help) return help;
  help = document.createElement("dialog");
  help.className = "keys-help";
  help.setAttribute("aria-labelledby", "keys-help-title");
  const title = document.createElement("h2");
  title.id = "keys-help-title";
  title.textContent = "Keyboard";
  const list = document.createElement("dl");
  for (const [key, what] of KEYS) {
    const dt = document.createElement("dt");
    const kbd = document.createElement("kbd");
    kbd.textContent = key;
    dt.append(kbd);
    const dd = document.createElement("dd");
    dd.textContent = what;
    list.append(dt, dd);
  }
  const form = document.createElement("form");
  form.method = "dialog";
  const close = document.createElement("button");
  close.type = "submit";
  close.textContent = "Close (Esc)";
  form.append(close);
  help.append(title, list, form);
  // Esc closes the dialog (the browser does), and only the dialog: not the bar's open panel too
  help.addEventListener("keydown", (event) => {
    if (event.key === "Escape") event.stopPropagation();
  });
  document.body.append(help);
  return help;
}

function toggleHelp() {
  const dialog = helpDialog();
  if (dialog.open) dialog.close();
  else dialog.showModal();
  return true;
}

function onKey(event) {
  if (event.defaultPrevented || event.isComposing || event.ctrlKey || event.altKey || event.metaKey) return;
  if (typing(event.target)) return;
  // pages without cards or a search (home, status) keep every key for the browser
  if (!document.querySelector("div.paper, #search-panel")) return;
  const key = event.key;
  if (help && help.open && key !== "?") return; // the dialog has the keyboard (Esc closes it)
  let done = false;
  if (key === "j" || key === "k") done = move(key === "j" ? 1 : -1);
  else if (Object.hasOwn(ACTIONS, key)) done = act(ACTIONS[key]);
  else if (key === "/") done = openSearch();
  else if (key === "?") done = toggleHelp();
  if (done) event.preventDefault();
}

export function init() {
  document.addEventListener("keydown", onKey);
}
