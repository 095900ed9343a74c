// Lists (a day, search, comma-id pages): lazy loading of the next cards, and the ❤ sort link.
//
// Lazy loading: the page ends with its plain "more" link (p.more a[rel=next], a full page at
// the next skip: it works without the script). As the reader nears it, the same slice is
// fetched with fragment=1: the server answers the cards alone (templates/_cards.html) and names
// the next slice in data-more. The cards are appended to div.papers, announced with cp:cards
// (stars, in-page search, math, keys decorate them), and the link moves on to the next slice;
// at the end it goes. One fetch at a time; a failed one leaves a retry button in its place.
//
// The ❤ link: the reader's preference keywords live in this browser (cp.prefs, written by the
// home page; else the top words of the cp.cloud word cloud), so its href is written here.

// Start loading this far below the viewport: a fast scroll meets cards, not a spinner.
const AHEAD = "0px 0px 200% 0px";
const PREF_MAX = 20; // keywords the server takes (web/sorts.py)
const PREF_CHARS = 40;

export function init() {
  preferenceLink();
  const link = document.querySelector("p.more a[rel=next]");
  const papers = document.querySelector("div.papers");
  if (link && papers && "IntersectionObserver" in window) new Loader(link, papers);
}

// ------------------------------------------------------------------------------ lazy loading

class Loader {
  constructor(link, papers) {
    this.link = link;
    this.more = link.closest("p.more");
    this.papers = papers;
    this.next = withFragment(link.href);
    this.busy = false;
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) this.load();
    }, { rootMargin: AHEAD });
    this.observer.observe(this.more);
  }

  async load() {
    if (this.busy || !this.next) return;
    this.busy = true;
    this.more.setAttribute("aria-busy", "true");
    let fragment;
    try {
      const answer = await fetch(this.next, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (!answer.ok) throw new Error(`${answer.status} ${answer.statusText}`);
      fragment = parseFragment(await answer.text());
    } catch (err) {
      this.failed(err);
      return;
    } finally {
      this.busy = false;
      this.more.removeAttribute("aria-busy");
    }
    this.append(fragment);
  }

  append(fragment) {
    // a card already on the page (an order that moved between two fetches) is not added twice
    const cards = [...fragment.querySelectorAll(":scope > div.paper")].filter(
      (card) => !document.getElementById(card.id),
    );
    this.papers.append(...cards);
    const following = fragment.dataset.more;
    if (following) {
      this.next = new URL(following, location.href);
      const page = new URL(this.next);
      page.searchParams.delete("fragment"); // the link stays a page: it works in a new tab
      this.link.href = page.href;
      const left = Number(fragment.dataset.total) - Number(this.next.searchParams.get("skip"));
      if (left > 0) this.link.textContent = `more (${left.toLocaleString("en-US")} left)`;
    } else {
      this.next = null;
      this.observer.disconnect();
      this.more.remove();
    }
    if (cards.length) document.dispatchEvent(new CustomEvent("cp:cards", { detail: { cards } }));
    if (this.next) {
      // observe again: when the link is still in reach (a tall window, short cards) the
      // observer reports it at once, instead of waiting for a change that never comes
      this.observer.unobserve(this.more);
      this.observer.observe(this.more);
    }
  }

  failed(err) {
    console.warn("coolpapers: could not load more papers", err);
    this.observer.unobserve(this.more);
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "more-retry";
    retry.textContent = "could not load — retry";
    retry.addEventListener("click", () => {
      retry.replaceWith(this.link);
      this.observer.observe(this.more);
      this.load();
    });
    this.link.replaceWith(retry);
  }
}

function withFragment(href) {
  const url = new URL(href, location.href);
  url.searchParams.set("fragment", "1");
  return url;
}

function parseFragment(html) {
  const holder = document.createElement("template"); // inert: nothing in it runs or loads
  holder.innerHTML = html;
  const fragment = holder.content.querySelector(".cards-fragment");
  if (!fragment) throw new Error("the answer holds no cards");
  return fragment;
}

// ------------------------------------------------------------------------------ the ❤ sort

function preferenceLink() {
  for (const nav of document.querySelectorAll("nav.sorts")) {
    const link = nav.querySelector("a.sort-pref");
    const base = nav.querySelector("a.sort-default");
    if (!link || !base) continue;
    const keywords = preferenceKeywords();
    if (keywords.length) {
      const url = new URL(base.href);
      // one keyword takes a trailing comma: a value with a comma is keywords, not an order
      url.searchParams.set("sort", keywords.join(",") + (keywords.length === 1 ? "," : ""));
      link.href = url.href;
      link.title = `your preference keywords first: ${keywords.join(", ")}`;
      link.hidden = false;
    } else if (!link.hasAttribute("aria-current")) {
      const hint = nav.querySelector(".sort-pref-hint");
      if (hint) hint.hidden = false;
    }
  }
}

function preferenceKeywords() {
  const prefs = stored("cp.prefs");
  const chosen = clean(Array.isArray(prefs) ? prefs : []);
  if (chosen.length) return chosen;
  const cloud = stored("cp.cloud"); // word -> weight: the heaviest first
  if (!cloud || typeof cloud !== "object" || Array.isArray(cloud)) return [];
  const heaviest = Object.entries(cloud)
    .filter(([, weight]) => typeof weight === "number" && weight > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([word]) => word);
  return clean(heaviest);
}

// Keywords as the server takes them: no commas (they separate), a letter or a digit, at most
// PREF_CHARS characters, PREF_MAX of them, no repeats.
function clean(words) {
  const fit = words
    .filter((w) => typeof w === "string")
    .map((w) => w.replace(/,/g, " ").replace(/\s+/g, " ").trim())
    .filter((w) => w.length <= PREF_CHARS && /[\p{L}\p{N}]/u.test(w));
  return [...new Set(fit)].slice(0, PREF_MAX);
}

function stored(key) {
  try {
    const text = localStorage.getItem(key);
    return text ? JSON.parse(text) : null;
  } catch {
    return null; // storage off, or not JSON: as if nothing were stored
  }
}
