// The bottom bar: its three panels (search, star list, settings), the star list, and the FAQ
// language in settings.
//
// Panels: one open at a time; the button's aria-expanded says which; Esc closes it. Each open
// or close dispatches `cp:panel` {id, open} on document (the in-page search focuses its box).
// The search panel's contents and the theme select belong to their own modules.
//
// The star list (papers.cool's): the papers of this page that are starred — their card is on
// the page, or they were starred on this page (a lazily loaded day has most cards not loaded
// yet) — and every paper opened here ([PDF], [FAQ]: `cp:opened` stars it, as papers.cool puts
// it in the list). Each entry is a[href="#<id>"] with its own star: an entry un-starred stays
// listed until the page is left, so it can be starred again. Clicking an entry scrolls its card
// into view; a card that is not on the page (not loaded yet) opens the paper's own page instead.
// Export is the comma-id page of the starred entries; BibTeX, RIS and CSL-JSON the same papers
// as files: /api/bibtex?ids=… and /api/export?ids=…&format=ris|csl-json (web.urls.bibtex and
// web.urls.export build the same URLs on the server). The stars are the reader's wherever they
// live (this browser, or a member's account: js/stars.js hides which).
import * as stars from "./stars.js";

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---------------------------------------------------------------- panels

function panels() {
  const buttons = [...document.querySelectorAll("#bar button[aria-controls]")]
    .filter((button) => document.getElementById(button.getAttribute("aria-controls")));
  const panelOf = (button) => document.getElementById(button.getAttribute("aria-controls"));

  function set(button, open) {
    const panel = panelOf(button);
    if ((button.getAttribute("aria-expanded") === "true") === open && panel.hidden === !open) return;
    button.setAttribute("aria-expanded", open ? "true" : "false");
    panel.hidden = !open;
    document.dispatchEvent(new CustomEvent("cp:panel", { detail: { id: panel.id, open } }));
  }

  for (const button of buttons) {
    button.addEventListener("click", () => {
      const opening = button.getAttribute("aria-expanded") !== "true";
      for (const other of buttons) if (other !== button) set(other, false);
      set(button, opening);
    });
  }
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || event.defaultPrevented) return;
    const open = buttons.find((button) => button.getAttribute("aria-expanded") === "true");
    if (!open) return;
    set(open, false);
    open.focus();
  });
}

// ---------------------------------------------------------------- settings

// The FAQ language has one home, the top bar's #faq-lang (static/js/faq.js reads and stores
// it); the bar's select mirrors it both ways.
function faqLanguage() {
  const top = document.getElementById("faq-lang");
  const mine = document.getElementById("bar-faq-lang");
  if (!top || !mine) return;
  mine.value = top.value;
  mine.addEventListener("change", () => {
    if (top.value === mine.value) return;
    top.value = mine.value;
    top.dispatchEvent(new Event("change", { bubbles: true }));
  });
  top.addEventListener("change", () => { mine.value = top.value; });
}

// ---------------------------------------------------------------- the star list

function starList() {
  const box = document.getElementById("star-list");
  if (!box) return;
  const panel = document.getElementById("star-panel");
  const count = document.querySelector("#bar-stars .star-count");
  const exportLink = panel && panel.querySelector("a.export");
  const bibtexLink = panel && panel.querySelector("a.bibtex");
  const risLink = panel && panel.querySelector("a.ris");
  const cslLink = panel && panel.querySelector("a.csl");
  const here = stars.pageKey();
  const entries = new Map();  // id -> {id, title, since, node, button}; in the order they came
  let note = null;

  const onPage = (id) => {
    const card = document.getElementById(id);
    return Boolean(card && card.classList.contains("paper"));
  };

  function add(id, title, since) {
    if (entries.has(id)) return;
    const node = el("p", "star-entry");
    node.dataset.paper = id;
    const link = el("a", "i-title", title || id);
    link.href = `#${id}`;
    const button = el("button", "entry-star");
    button.type = "button";
    button.setAttribute("aria-label", `star: ${title || id}`);
    node.append(link, " ", button);
    entries.set(id, { id, title: title || id, since: since || "", node, button });
  }

  function render() {
    const empty = box.querySelector(".star-empty");
    if (entries.size && empty) empty.remove();
    if (!entries.size && !empty) {
      box.append(el("p", "star-empty", "No stars on this page yet: ☆ on a card, or open its [PDF] or FAQ."));
    }
    const ordered = [...entries.values()].sort((a, b) => a.since.localeCompare(b.since));
    const starred = [];
    ordered.forEach((entry, i) => {
      const on = stars.has(entry.id);
      entry.button.setAttribute("aria-pressed", on ? "true" : "false");
      entry.button.title = on ? "Un-star" : "Star again";
      entry.node.classList.toggle("unstarred", !on);
      if (box.children[i] !== entry.node) box.insertBefore(entry.node, box.children[i] || null);
      if (on) starred.push(entry.id);
    });
    if (count) count.textContent = starred.length ? String(starred.length) : "";
    const path = starred.map((id) => encodeURI(id)).join(",");  // an old-style id keeps its slash
    const ids = starred.map((id) => encodeURIComponent(id)).join(",");
    const links = [
      [exportLink, `/arxiv/${path}`],
      [bibtexLink, `/api/bibtex?ids=${ids}`],
      [risLink, `/api/export?ids=${ids}&format=ris`],
      [cslLink, `/api/export?ids=${ids}&format=csl-json`],
    ];
    for (const [link, href] of links) {
      if (!link) continue;
      if (starred.length) {
        link.href = href;
        link.removeAttribute("aria-disabled");
      } else {
        link.removeAttribute("href");
        link.setAttribute("aria-disabled", "true");
      }
    }
    if (!stars.persistent() && !note && panel) {
      note = el("p", "star-note", "This browser does not let the site keep data: your stars last until you leave this page.");
      panel.prepend(note);
    }
  }

  // the stars that belong to this page, in the order they were starred
  function collect() {
    for (const s of stars.list().reverse()) {
      if (s.page === here || onPage(s.id)) add(s.id, s.title || stars.cardTitle(s.id), s.at || "");
    }
  }

  collect();
  render();

  document.addEventListener("cp:stars", () => { collect(); render(); });
  document.addEventListener("cp:cards", (event) => {
    const cards = (event.detail && event.detail.cards) || [];
    if (cards.some((card) => stars.has(card.id))) { collect(); render(); }
  });
  document.addEventListener("cp:opened", (event) => {
    const id = event.detail && event.detail.id;
    if (!id) return;
    stars.star(id, { title: stars.cardTitle(id), page: here })
      .catch((err) => console.warn("coolpapers:", err.message));
  });

  box.addEventListener("click", (event) => {
    const button = event.target.closest("button.entry-star");
    if (button) {
      const id = button.parentElement.dataset.paper;
      const entry = entries.get(id);
      stars.toggle(id, { title: entry ? entry.title : "", page: here })
        .catch((err) => console.warn("coolpapers:", err.message));
      return;
    }
    const link = event.target.closest("a.i-title");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    const id = link.parentElement.dataset.paper;
    const card = document.getElementById(id);
    if (!card || !card.classList.contains("paper")) {
      window.location.assign(`/arxiv/${encodeURI(id)}`);  // not loaded here (yet): its own page
      return;
    }
    const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    card.scrollIntoView({ behavior: still ? "auto" : "smooth", block: "start" });
    history.replaceState(history.state, "", `#${encodeURI(id)}`);
    card.classList.remove("star-target");
    void card.offsetWidth;  // restart the highlight when the same entry is clicked twice
    card.classList.add("star-target");
    card.addEventListener("animationend", () => card.classList.remove("star-target"), { once: true });
  });
}

export function init() {
  if (!document.getElementById("bar")) return;
  panels();
  faqLanguage();
  starList();
}
