// coolpapers: progressive enhancement. Every page works without the script; with it, each reading
// feature lives in one module of static/js/ and exports init(), called once per page here.
//
// Cards arrive after the first paint too (lazy loading, the /stars page). Modules talk through
// events on document, never by reaching into each other; what a reader keeps in this browser has
// two doors any module may import: js/stars.js (cp.stars) and js/interests.js (cp.cats, cp.prefs,
// cp.cloud).
//   cp:cards   {cards: Element[]}     new div.paper cards were put on the page
//   cp:opened  {id, kind: pdf|faq}    a reader opened a card's PDF or FAQ
//   cp:stars   {}                    the reader's stars changed (static/js/stars.js)
//   cp:settings {faq_lang, categories, prefs}  a member's settings arrived from the server
//                                    (static/js/interests.js): what shows them redraws
//
// On a lab's instance (COOLPAPERS_AUTH on) body[data-member] names the logged-in member: the
// stars, settings, seen papers and notes then live on the server (js/stars.js, interests.js,
// seen.js, notes.js), and js/lab.js shows who in the lab starred each card.
import * as faq from "./js/faq.js";
import * as stars from "./js/stars.js";
import * as bar from "./js/bar.js";
import * as cards from "./js/cards.js";
import * as pdf from "./js/pdf.js";
import * as lazy from "./js/lazy.js";
import * as insearch from "./js/insearch.js";
import * as keys from "./js/keys.js";
import * as home from "./js/home.js";
import * as starsPage from "./js/stars_page.js";
import * as themeToggle from "./js/theme_toggle.js";
import * as lab from "./js/lab.js";
import * as seen from "./js/seen.js";
import * as notes from "./js/notes.js";
import * as account from "./js/account.js";

for (const [name, feature] of Object.entries({ faq, stars, bar, cards, pdf, lazy, insearch, keys, home, starsPage, themeToggle, lab, seen, notes, account })) {
  try {
    feature.init();
  } catch (err) {
    // one feature failing must not take the others down; the console shows which
    console.error(`coolpapers: ${name} failed to start`, err);
  }
}
