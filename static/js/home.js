// The home page: the tri-state category chooser, the Track section (preference keywords, the
// personal word cloud) — and, on every page, what feeds the cloud: the TF-IDF keywords (the
// card's keywords="…" attribute, computed at indexing) of each paper the reader opens ([PDF],
// [FAQ]: cp:opened) or stars. All of it lives in this browser (static/js/interests.js).

import * as interests from "./interests.js";

const CLASSES = 5;  // word sizes w1 … w5, by quantile of weight
const TOP = 20;  // papers.cool's ❤ sort took the cloud's top 20 words

// ---------------------------------------------------------------- the cloud grows (any page)

function feedCloud() {
  const counted = new Set();  // a paper counts once a page view: opening its PDF stars it too

  function count(id) {
    if (!id || counted.has(id)) return;
    const card = document.getElementById(id);
    const keywords = card && card.matches("div.paper") ? card.getAttribute("keywords") : null;
    if (!keywords) return;
    counted.add(id);
    interests.growCloud(keywords.split(","));
  }

  document.addEventListener("cp:opened", (event) => count(event.detail && event.detail.id));

  // A star counts when the reader presses it (mouse, keyboard shortcut): remember the press,
  // then count the paper when its button turns on. Stars marked on page load are not presses.
  const pressed = new Set();
  document.addEventListener("click", (event) => {
    const star = event.target instanceof Element && event.target.closest("button.star");
    if (star && star.getAttribute("aria-pressed") !== "true" && star.dataset.paper) pressed.add(star.dataset.paper);
  }, true);
  new MutationObserver((records) => {
    for (const record of records) {
      const star = record.target;
      if (!(star instanceof Element) || !star.matches("button.star")) continue;
      const id = star.dataset.paper;
      if (star.getAttribute("aria-pressed") === "true" && pressed.delete(id)) count(id);
    }
  }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ["aria-pressed"] });
}

// ------------------------------------------------------------------------- the chooser

const STATES = ["", "follow", "exclude"];  // a box's cycle: empty → ✓ → − → empty
const MARK = { "": "", follow: "✓", exclude: "−" };
const SAYS = {
  "": "not chosen; press to follow",
  follow: "followed (✓); press to exclude",
  exclude: "excluded (−); press to clear",
};

function renderBoxes(boxes) {
  const { follow, exclude } = interests.cats();
  for (const box of boxes) {
    const cat = box.dataset.cat;
    const state = follow.includes(cat) ? "follow" : exclude.includes(cat) ? "exclude" : "";
    box.dataset.state = state;
    box.textContent = MARK[state];
    box.setAttribute("aria-pressed", state === "follow" ? "true" : state === "exclude" ? "mixed" : "false");
    box.setAttribute("aria-label", `${box.dataset.name} (${cat}): ${SAYS[state]}`);
    box.title = box.getAttribute("aria-label");
  }
}

function setLink(link, href, why) {
  if (href) {
    link.href = href;
    link.removeAttribute("aria-disabled");
  } else {
    link.removeAttribute("href");  // an <a> without href is not a link: nothing to follow
    link.setAttribute("aria-disabled", "true");
  }
  link.title = why;
}

function renderChooser(chooser) {
  const { follow, exclude } = interests.cats();
  const prefix = chooser.dataset.list;
  const maxTerms = Number(chooser.dataset.maxTerms) || Infinity;
  const chosen = chooser.querySelector(".chosen");
  const parts = [];
  if (follow.length) parts.push(`✓ ${follow.join(", ")}`);
  if (exclude.length) parts.push(`− ${exclude.join(", ")}`);
  let hint = "";
  if (!follow.length) {
    hint = exclude.length
      ? "Follow at least one category (✓) for ➚ to open."
      : "Your categories: tick the boxes below (✓ to follow, press again for − to exclude), or use + and − on a paper's subjects.";
  } else if (follow.length + exclude.length > maxTerms) {
    hint = `At most ${maxTerms} categories in one link: take some out.`;
  }
  chosen.textContent = [parts.join(" · "), hint].filter(Boolean).join(" — ");
  const ok = follow.length && !(follow.length + exclude.length > maxTerms);
  const spec = follow.join("+") + exclude.map((c) => `-${c}`).join("");
  setLink(chooser.querySelector("a.open-spec"), ok ? prefix + spec : "",
    ok ? `Open ${spec}: the followed categories without the excluded ones` : hint);
  setLink(chooser.querySelector("a.open-union"), ok ? prefix + follow.join(",") : "",
    ok ? `Open ${follow.join(",")}: the followed categories, nothing excluded` : hint);
  chooser.querySelector(".chooser-clear").disabled = !(follow.length || exclude.length);
}

// ------------------------------------------------------------------------------- Track

/** w1 (lightest) … w5 (heaviest) by the word's mid-rank quantile of weight: ties share a class,
 * and a cloud of equal weights sits in the middle (w3) rather than all at the smallest. */
function sizeClasses(weights) {
  const sorted = Object.values(weights).sort((a, b) => a - b);
  const count = (lighter) => {  // how many weights pass lighter(weight), a prefix of sorted
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (lighter(sorted[mid])) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return (w) => {
    const below = count((x) => x < w);
    const upTo = count((x) => x <= w);
    const quantile = (below + upTo) / 2 / sorted.length;
    return `w${1 + Math.min(CLASSES - 1, Math.floor(quantile * CLASSES))}`;
  };
}

function renderCloud(box) {
  const weights = interests.cloud();
  const mine = new Set(interests.prefs().map((w) => w.toLowerCase()));
  const words = Object.keys(weights).sort((a, b) => a.localeCompare(b));
  if (!words.length) {
    const empty = document.createElement("p");
    empty.className = "cloud-empty";
    empty.textContent = "Empty for now: open [PDF] or the FAQ of papers on a list, or star them, and their keywords gather here.";
    box.replaceChildren(empty);
    return;
  }
  const size = sizeClasses(weights);
  box.replaceChildren(...words.map((word) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = `word ${size(weights[word])}`;
    button.textContent = word;
    button.dataset.word = word;
    button.setAttribute("aria-pressed", String(mine.has(word.toLowerCase())));
    const weight = Math.round(weights[word] * 100) / 100;
    button.title = `weight ${weight}: add “${word}” to the preference keywords`;
    return button;
  }));
}

function track(section) {
  const area = section.querySelector("#prefs");
  const status = section.querySelector(".prefs-status");
  const cloudBox = section.querySelector("#cloud");

  const showPrefs = () => {
    area.value = interests.prefs().join("\n");
  };
  const saved = (text) => {
    const n = interests.prefs().length;
    status.textContent = `${text} ${n} preference keyword${n === 1 ? "" : "s"} kept in this browser.`;
  };

  showPrefs();
  renderCloud(cloudBox);
  if (location.hash === "#track" || area.value) section.open = true;

  area.addEventListener("input", () => {
    interests.setPrefs(interests.parseKeywords(area.value));
    saved("Saved:");
    renderCloud(cloudBox);
  });
  area.addEventListener("change", showPrefs);  // tidy the text (one per line) once the reader leaves it

  cloudBox.addEventListener("click", (event) => {
    const word = event.target instanceof Element && event.target.closest("button.word");
    if (!word) return;
    interests.addPrefs([word.dataset.word]);
    showPrefs();
    saved(`Added “${word.dataset.word}”:`);
    renderCloud(cloudBox);
  });
  section.querySelector(".cloud-top").addEventListener("click", () => {
    const top = interests.topWords(TOP);
    interests.addPrefs(top);
    showPrefs();
    saved(top.length ? `Added the cloud's top ${top.length}:` : "The cloud is empty:");
    renderCloud(cloudBox);
  });
  section.querySelector(".cloud-clear").addEventListener("click", () => {
    interests.clearCloud();
    renderCloud(cloudBox);
    status.textContent = "The word cloud is cleared.";
  });

  return () => {
    if (document.activeElement !== area) showPrefs();
    renderCloud(cloudBox);
  };
}

// -------------------------------------------------------------------------------- init

export function init() {
  feedCloud();

  const chooser = document.querySelector("section.intro .chooser");
  const section = document.getElementById("track");
  if (!chooser || !section) return;  // not the home page

  const boxes = [...document.querySelectorAll("button.tri[data-cat]")];
  const refreshChooser = () => {
    renderBoxes(boxes);
    renderChooser(chooser);
  };
  refreshChooser();
  document.addEventListener("click", (event) => {
    const box = event.target instanceof Element && event.target.closest("button.tri[data-cat]");
    if (!box) return;
    const next = STATES[(STATES.indexOf(box.dataset.state || "") + 1) % STATES.length];
    interests.setCat(box.dataset.cat, next);
    refreshChooser();
  });
  chooser.querySelector(".chooser-clear").addEventListener("click", () => {
    interests.clearCats();
    refreshChooser();
  });

  const refreshTrack = track(section);
  // the reader follows a subject or opens papers in another tab: this page keeps up
  window.addEventListener("storage", (event) => {
    const { CATS, PREFS, CLOUD } = interests.KEYS;
    if (event.key === null || event.key === CATS) refreshChooser();
    if (event.key === null || event.key === PREFS || event.key === CLOUD) refreshTrack();
  });
  // a member's settings arrived from the server after this page was drawn (interests.js)
  document.addEventListener("cp:settings", () => {
    refreshChooser();
    refreshTrack();
  });
}
