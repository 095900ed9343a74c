// A member's first login in a browser that has stars of its own (cp.stars, made before there
// was an account or while logged out): a notice at the top of the page offers to import the
// ones the account does not have ("Import N stars from this browser" → POST /api/stars/import,
// through js/stars.js; the ones it has go along, so that the earlier time of a star wins). Asked once per member and browser: the answer, import or not, is kept
// in localStorage "cp.stars.imported.<member>". The browser's own store is left as it was (it is
// what this browser shows when nobody is logged in).
//
// Started by js/stars.js's init() (app.js names the modules; this one belongs to the stars).
import * as stars from "./stars.js";

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(cls, text) {
  const node = el("button", cls, text);
  node.type = "button";
  return node;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

const answerKey = (name) => `cp.stars.imported.${name}`;

// Whether this member was asked in this browser already; true where storage is refused (the
// browser then has no stars to offer either).
function asked(name) {
  try {
    return window.localStorage.getItem(answerKey(name)) !== null;
  } catch (err) {
    return true;
  }
}

function remember(name, answer) {
  try {
    window.localStorage.setItem(answerKey(name), JSON.stringify({ answer, at: new Date().toISOString() }));
  } catch (err) {
    // not kept: asked again next time, which is all it costs
  }
}

function offer(name, local) {
  const main = document.querySelector("main");
  if (!main) return;
  const n = local.length;
  const box = el("section", "panel notice star-import");
  box.setAttribute("aria-label", "stars in this browser");
  const text = el("p", "star-import-text",
    `This browser keeps ${plural(n, "starred paper")} that your account (${name}) does not have yet.`);
  const actions = el("p", "star-import-actions");
  const yes = button("import-stars", `Import ${plural(n, "star")} from this browser`);
  const no = button("dismiss-import", "No thanks");
  no.title = "you will not be asked again in this browser";
  actions.append(yes, " ", no);
  box.append(text, actions);
  main.prepend(box);

  function done(message) {
    text.textContent = message;
    const close = button("close-import", "Close");
    close.addEventListener("click", () => box.remove());
    actions.replaceChildren(close);
  }

  no.addEventListener("click", () => {
    remember(name, "declined");
    box.remove();
  });
  yes.addEventListener("click", async () => {
    yes.disabled = no.disabled = true;
    text.textContent = `Importing ${plural(n, "star")}…`;
    try {
      // all of them: a star the account has too keeps the earlier of its two times
      const { added, skipped } = await stars.importStars(stars.browserStars());
      remember(name, "imported");
      let message = `Imported ${plural(added, "star")} into your account.`;
      if (skipped.length) {
        message += ` ${plural(skipped.length, "star")} could not be: not papers of this site (${skipped.slice(0, 5).join(", ")}${skipped.length > 5 ? ", …" : ""}).`;
      }
      done(message);
    } catch (err) {
      text.textContent = `The import did not go through (${err.message}). Try again, or later.`;
      yes.disabled = no.disabled = false;
    }
  });
}

export function init() {
  const name = document.body.dataset.member;
  if (!name || asked(name)) return;
  stars.ready().then(() => {
    if (stars.failure()) return;  // the account's stars are unknown: ask another time
    const local = stars.browserOnly();
    if (local.length) offer(name, local);
  });
}
