// Card actions: [Copy], the fold button, subject +/−, back-to-top/bottom.
//
// [Copy] puts this on the clipboard (the README documents it):
//
//   <title>
//   <authors, comma-separated>
//   <the card's #index link: https://arxiv.org/abs/<id>>
//   (empty line)
//   <abstract>
//
// Title and abstract are their text as the card shows it, with each rendered formula given back
// as its TeX source as written, delimiters included: the alttext that coolpapers/web/math.py puts
// on each <math> (an <annotation encoding="application/x-tex"> is read first, should a renderer
// keep the TeX there; a bare TeX gets $…$, or $$…$$ for display math). So a pasted abstract reads
// as arXiv's own (the JSON API's text). Highlight marks add nothing. The reader's text selection
// (papers.cool fixed its [Copy] clobbering the find-in-page selection, 2024-01-02) is put back.
//
// Everything is delegated from document, so cards added later (lazy loading, /stars) need nothing.

import * as interests from "./interests.js";

const TEX = 'annotation[encoding="application/x-tex"]';
const FEEDBACK_MS = 1500;  // how long "[Copied]" stays on the button
const NOTE_MS = 4000;  // how long the subject +/− confirmation stays

/** A formula's TeX with its delimiters; the text the browser shows when the TeX was not kept. */
function mathSource(math) {
  const annotation = math.querySelector(TEX);
  const tex = annotation ? annotation.textContent : math.getAttribute("alttext");
  if (tex === null) return math.textContent;
  const trimmed = tex.trim();
  if (/^(\$|\\\(|\\\[)/.test(trimmed)) return trimmed;  // the renderer kept the delimiters
  return math.getAttribute("display") === "block" ? `$$${trimmed}$$` : `$${trimmed}$`;
}

/** The text of a title or abstract, formulas as TeX. */
function sourceText(node) {
  if (!node) return "";
  let out = "";
  for (const child of node.childNodes) {
    if (child.nodeType === Node.TEXT_NODE) out += child.nodeValue;
    else if (child.nodeType !== Node.ELEMENT_NODE) continue;
    else if (child.localName === "math") out += mathSource(child);
    else out += sourceText(child);
  }
  return out;
}

function copyText(card) {
  const title = sourceText(card.querySelector("h2.title .title-link")).trim();
  const authors = [...card.querySelectorAll("p.authors a.author")]
    .map((a) => a.textContent.trim())
    .join(", ");
  const index = card.querySelector("h2.title .index");
  const link = index && index.closest("a") ? index.closest("a").href : "";
  const abstract = sourceText(card.querySelector("p.summary")).trim();
  return `${title}\n${authors}\n${link}\n\n${abstract}`;
}

function saveSelection() {
  const selection = window.getSelection();
  const ranges = [];
  for (let i = 0; selection && i < selection.rangeCount; i++) ranges.push(selection.getRangeAt(i).cloneRange());
  return ranges;
}

function restoreSelection(ranges) {
  const selection = window.getSelection();
  if (!selection) return;
  selection.removeAllRanges();
  for (const range of ranges) selection.addRange(range);
}

/** The old way, for pages not served from a secure origin (http on a LAN address): a textarea
 * out of sight, selected and copied — which is what moves the reader's selection. */
function copyByCommand(text) {
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.setAttribute("aria-hidden", "true");
  area.className = "copy-buffer";
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch (err) {
    ok = false;
  }
  area.remove();
  return ok;
}

async function writeClipboard(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (err) {
      // refused (permission, the document lost focus): the old way may still work
    }
  }
  return copyByCommand(text);
}

const labels = new WeakMap();  // button -> its own label, while it shows the feedback

function feedback(button, text) {
  if (!labels.has(button)) labels.set(button, button.textContent);
  button.textContent = text;
  button.classList.add("copied");
  clearTimeout(Number(button.dataset.timer));
  button.dataset.timer = String(setTimeout(() => {
    button.textContent = labels.get(button);
    labels.delete(button);
    button.classList.remove("copied");
  }, FEEDBACK_MS));
}

async function copy(button, ranges) {
  const card = button.closest("div.paper");
  if (!card) return;
  const focused = document.activeElement;
  const ok = await writeClipboard(copyText(card));
  restoreSelection(ranges);
  if (focused instanceof HTMLElement && document.activeElement !== focused) focused.focus({ preventScroll: true });
  feedback(button, ok ? "[Copied]" : "[Copy failed]");
}

// --------------------------------------------------------------------------------- fold

function showFold(card) {
  const fold = card && card.querySelector("button.fold");
  if (fold) fold.hidden = false;
}

function fold(button) {
  const card = button.closest("div.paper");
  for (const pane of card.querySelectorAll(".pdf-pane, .faq-pane")) pane.hidden = true;
  button.hidden = true;
  // a long PDF or FAQ just collapsed above the reader: bring the card's top back into view
  if (card.getBoundingClientRect().top < 0) card.scrollIntoView({ block: "start" });
  const title = card.querySelector(".title-link");
  if (title) title.focus({ preventScroll: true });  // the button is gone: keep keyboard focus in the card
}

/** Panes are opened and closed by their own buttons ([PDF], [FAQ]): the fold button follows. */
function watchPanes() {
  const observer = new MutationObserver((records) => {
    const seen = new Set();
    for (const record of records) {
      const pane = record.target;
      if (!(pane instanceof Element) || !pane.matches(".pdf-pane, .faq-pane")) continue;
      const card = pane.closest("div.paper");
      if (!card || seen.has(card)) continue;
      seen.add(card);
      const open = [...card.querySelectorAll(".pdf-pane, .faq-pane")].some((p) => !p.hidden);
      const button = card.querySelector("button.fold");
      if (button) button.hidden = !open;
    }
  });
  observer.observe(document.body, { subtree: true, attributes: true, attributeFilter: ["hidden"] });
}

// ------------------------------------------------------------------------- subject +/−

// One pair of buttons for the whole page, moved next to the subject under the pointer or the
// keyboard focus (Tab from a subject reaches its + and −): nothing to build per card.
let tools = null;
let note = null;
let noteTimer = 0;

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function makeTools() {
  tools = el("span", "subject-tools");
  tools.hidden = true;
  const follow = el("button", "cat-follow", "+");
  const exclude = el("button", "cat-exclude", "−");
  for (const button of [follow, exclude]) {
    button.type = "button";
    tools.append(button);
  }
  note = el("span", "cat-note");
  note.setAttribute("role", "status");
  note.hidden = true;
  tools.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button || !tools.dataset.cat) return;
    const cat = tools.dataset.cat;
    const wanted = button.classList.contains("cat-follow") ? "follow" : "exclude";
    // pressing the lit button again takes the category out
    const state = interests.catState(cat) === wanted ? "" : wanted;
    interests.setCat(cat, state);
    markSubjects(document);
    updateTools();
    say(tools.parentElement, state === "follow" ? `Following ${cat}: Home's ➚ opens your categories.`
      : state === "exclude" ? `Excluding ${cat} from your categories (Home's ➚).`
      : `${cat} is neither followed nor excluded now.`);
  });
}

function updateTools() {
  const cat = tools.dataset.cat;
  const state = interests.catState(cat);
  const [follow, exclude] = tools.querySelectorAll("button");
  follow.setAttribute("aria-pressed", String(state === "follow"));
  exclude.setAttribute("aria-pressed", String(state === "exclude"));
  follow.title = state === "follow" ? `Stop following ${cat}` : `Follow ${cat}`;
  exclude.title = state === "exclude" ? `Stop excluding ${cat}` : `Exclude ${cat}`;
  follow.setAttribute("aria-label", follow.title);
  exclude.setAttribute("aria-label", exclude.title);
}

function say(subjects, text) {
  if (!subjects) return;
  note.textContent = text;
  note.hidden = false;
  subjects.append(note);
  clearTimeout(noteTimer);
  noteTimer = setTimeout(() => { note.hidden = true; }, NOTE_MS);
}

function placeTools(link) {
  if (!tools) makeTools();
  if (tools.previousElementSibling !== link) link.after(tools);
  tools.dataset.cat = link.dataset.cat;
  updateTools();
  tools.hidden = false;
}

function hideTools() {
  // the pointer left; a keyboard reader's focus on + or − keeps them (a clicked one does not)
  if (tools && !tools.querySelector(":focus-visible")) tools.hidden = true;
}

const SUBJECT = "p.subjects a[data-cat]";

/** Followed and excluded subjects look it on the cards (a lasting confirmation of + and −). */
function markSubjects(root) {
  const { follow, exclude } = interests.cats();
  for (const link of root.querySelectorAll(SUBJECT)) {
    const cat = link.dataset.cat;
    const state = follow.includes(cat) ? "follow" : exclude.includes(cat) ? "exclude" : "";
    if (state) link.dataset.interest = state;
    else delete link.dataset.interest;
  }
}

// --------------------------------------------------------------------------------- init

export function init() {
  let pressed = null;  // the copy button under the pointer and the selection it found

  document.addEventListener("pointerdown", (event) => {
    const button = event.target.closest("button.title-copy");
    pressed = button ? { button, ranges: saveSelection() } : null;
  }, true);

  document.addEventListener("click", (event) => {
    const target = event.target;
    if (!(target instanceof Element)) return;
    const copyButton = target.closest("button.title-copy");
    if (copyButton) {
      const ranges = pressed && pressed.button === copyButton ? pressed.ranges : saveSelection();
      pressed = null;
      copy(copyButton, ranges);
      return;
    }
    const foldButton = target.closest("div.paper button.fold");
    if (foldButton) { fold(foldButton); return; }
    if (target.closest(".jump .to-top")) {
      window.scrollTo({ top: 0, behavior: "auto" });
      return;
    }
    if (target.closest(".jump .to-bottom")) {
      // the end of the page as it is now; lazy loading may append more below
      window.scrollTo({ top: document.documentElement.scrollHeight, behavior: "auto" });
    }
  });

  document.addEventListener("cp:opened", (event) => {
    const id = event.detail && event.detail.id;
    if (id) showFold(document.getElementById(id));
  });
  watchPanes();

  document.addEventListener("mouseover", (event) => {
    const link = event.target instanceof Element && event.target.closest(SUBJECT);
    if (link) placeTools(link);
  });
  document.addEventListener("mouseout", (event) => {
    if (!tools || tools.hidden) return;
    const subjects = tools.closest("p.subjects");
    const to = event.relatedTarget;
    if (!(to instanceof Node) || !subjects || !subjects.contains(to)) hideTools();
  });
  document.addEventListener("focusin", (event) => {
    const link = event.target instanceof Element && event.target.closest(SUBJECT);
    if (link) placeTools(link);
  });
  document.addEventListener("focusout", (event) => {
    if (!tools || tools.hidden) return;
    const to = event.relatedTarget;
    const stays = to instanceof Element && (tools.contains(to) || to.matches(SUBJECT));
    if (!stays) tools.hidden = true;
  });

  markSubjects(document);
  document.addEventListener("cp:cards", (event) => {
    for (const card of (event.detail && event.detail.cards) || []) markSubjects(card);
  });
  // another tab followed or excluded something
  window.addEventListener("storage", (event) => {
    if (event.key === interests.KEYS.CATS || event.key === null) markSubjects(document);
  });
  // a member's settings arrived from the server (interests.js)
  document.addEventListener("cp:settings", () => markSubjects(document));
}
