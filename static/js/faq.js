// The [FAQ] button: expands the FAQ under its card and follows it live as the worker writes it.
// Without the script the button is a link to the paper page's FAQ section.

import * as interests from "./interests.js";

// The language is kept by interests.js: in this browser, and for a lab's member in their account
// too. Storage may be blocked (site data off) or refuse writes (quota, private modes): the
// language then lasts for the page.
function remembered() {
  return interests.faqLang();
}

function remember(value) {
  interests.setFaqLang(value);
}

export function init() {
  const langSelect = document.getElementById("faq-lang");
  const lang = () => langSelect.value;
  const fallback = () => ((navigator.language || "").startsWith("zh") ? "zh" : "en");
  langSelect.value = remembered() || fallback();
  langSelect.parentElement.hidden = false;
  let following = false;  // showing the account's language: nothing chosen, nothing to store
  langSelect.addEventListener("change", () => { if (!following) remember(lang()); });
  // a member's account settings arrived after the first paint: the select (and the bar's) follow
  document.addEventListener("cp:settings", () => {
    const chosen = remembered() || fallback();
    if (chosen === lang()) return;
    langSelect.value = chosen;
    following = true;
    try { langSelect.dispatchEvent(new Event("change", { bubbles: true })); } finally { following = false; }
  });

  const streams = new Map();

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function stateText(data) {
    switch (data.state) {
      case "queued":
        return data.position ? `Queued: position ${data.position}. It goes on if you leave.`
                             : "Queued. It goes on if you leave.";
      case "generating": return "Writing… (it goes on if you leave)";
      case "done": {
        const bits = [data.model, data.source && `from the ${data.source.toUpperCase()}`,
          data.tokens_in != null && data.tokens_out != null &&
            `${data.tokens_in + data.tokens_out} tokens${data.tokens_estimated ? " (estimated)" : ""}`,
          data.seconds != null && `${data.seconds} s`, data.prompt_version].filter(Boolean);
        return bits.join(" · ");
      }
      case "failed": return `Failed: ${data.error || "unknown reason"}`;
      default: return data.error || "";
    }
  }

  // data.html is sanitized on the server (markdown-it without raw HTML, then nh3).
  function render(pane, paperId, data) {
    pane.replaceChildren();
    const head = el("p", `faq-state faq-${data.state}`, stateText(data));
    pane.append(head);
    if (data.truncated_input) pane.append(el("p", "faq-note", "The paper was too long: its middle was left out."));
    if (data.truncated_output) pane.append(el("p", "faq-note", "The answer hit the output limit and may end early."));
    const body = el("div", "faq-body");
    body.innerHTML = data.html || "";
    pane.append(body);
    if (data.state === "failed") {
      const retry = el("button", "faq-retry", "Try again");
      const failedLang = data.lang || pane.dataset.lang;
      retry.addEventListener("click", () => ask(paperId, pane, failedLang));
      pane.append(retry);
    }
    if (typeof data.clicks === "number") {
      const sup = document.getElementById(`faq-clicks-${paperId}`);
      if (sup) sup.textContent = String(data.clicks);
    }
  }

  function stopFollowing(paperId) {
    const old = streams.get(paperId);
    if (old) { old.close(); streams.delete(paperId); }
  }

  function follow(paperId, pane, language) {
    stopFollowing(paperId);  // one stream per card: a language switch must not mix two FAQs
    const url = `/api/papers/${paperId}/faq/stream?lang=${language}`;
    const source = new EventSource(url);
    streams.set(paperId, source);
    source.addEventListener("faq", (event) => {
      const data = JSON.parse(event.data);
      render(pane, paperId, data);
      if (data.state === "done" || data.state === "failed") stopFollowing(paperId);
    });
    source.onerror = async () => {
      // the connection dropped (server restart, network): read the state once, then resume
      stopFollowing(paperId);
      try {
        const response = await fetch(`/api/papers/${paperId}/faq?lang=${language}`);
        const data = await response.json();
        render(pane, paperId, data);
        if (data.state === "queued" || data.state === "generating") {
          setTimeout(() => { if (!pane.hidden) follow(paperId, pane, language); }, 2000);
        }
      } catch (err) {
        render(pane, paperId, { state: "error", error: "connection lost: click the button to refresh" });
      }
    };
  }

  async function ask(paperId, pane, language) {
    pane.hidden = false;
    pane.dataset.lang = language;
    stopFollowing(paperId);
    pane.replaceChildren(el("p", "faq-state", "Asking…"));
    let data;
    try {
      const response = await fetch(`/api/papers/${paperId}/faq?lang=${language}`, { method: "POST" });
      data = await response.json();
      if (!response.ok) { render(pane, paperId, { state: "error", error: data.error || response.statusText }); return; }
    } catch (err) {
      render(pane, paperId, { state: "error", error: "the site could not be reached" });
      return;
    }
    render(pane, paperId, data);
    if (data.state === "queued" || data.state === "generating") follow(paperId, pane, language);
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("a.title-faq");
    if (!button) return;
    event.preventDefault();
    const paperId = button.dataset.paper;
    const pane = document.getElementById(`faq-pane-${paperId}`);
    if (button.dataset.off) {
      pane.hidden = false;
      pane.replaceChildren(el("p", "faq-state faq-off",
        "FAQ generation is off on this site: an administrator sets COOLPAPERS_LLM_BASE_URL, " +
        "COOLPAPERS_LLM_MODEL and COOLPAPERS_LLM_API_KEY (see the README) to turn it on."));
      return;
    }
    if (!pane.hidden && pane.dataset.lang === lang()) {
      // fold it; a generation goes on in the worker, its stream closes until the next click
      pane.hidden = true;
      stopFollowing(paperId);
      return;
    }
    ask(paperId, pane, lang());
    document.dispatchEvent(new CustomEvent("cp:opened", { detail: { id: paperId, kind: "faq" } }));
  });
}
