// coolpapers: progressive enhancement. Pages work without this file; with it, the FAQ button
// expands the FAQ under its card and follows it live as the worker writes it.
"use strict";

(function () {
  const langSelect = document.getElementById("faq-lang");
  const stored = localStorage.getItem("faq-lang");
  const lang = () => langSelect.value;
  langSelect.value = stored || ((navigator.language || "").startsWith("zh") ? "zh" : "en");
  langSelect.parentElement.hidden = false;
  langSelect.addEventListener("change", () => localStorage.setItem("faq-lang", lang()));

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
          data.tokens_in != null && `${data.tokens_in + data.tokens_out} tokens${data.tokens_estimated ? " (estimated)" : ""}`,
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
      retry.addEventListener("click", () => ask(paperId, pane));
      pane.append(retry);
    }
    if (typeof data.clicks === "number") {
      const sup = document.getElementById(`faq-stars-${paperId}`);
      if (sup) sup.textContent = String(data.clicks);
    }
  }

  function follow(paperId, pane) {
    const url = `/api/papers/${paperId}/faq/stream?lang=${lang()}`;
    const source = new EventSource(url);
    streams.set(paperId, source);
    source.addEventListener("faq", (event) => {
      const data = JSON.parse(event.data);
      render(pane, paperId, data);
      if (data.state === "done" || data.state === "failed") { source.close(); streams.delete(paperId); }
    });
    source.onerror = () => { source.close(); streams.delete(paperId); };
  }

  async function ask(paperId, pane) {
    pane.hidden = false;
    pane.replaceChildren(el("p", "faq-state", "Asking…"));
    let data;
    try {
      const response = await fetch(`/api/papers/${paperId}/faq?lang=${lang()}`, { method: "POST" });
      data = await response.json();
      if (!response.ok) { render(pane, paperId, { state: "error", error: data.error || response.statusText }); return; }
    } catch (err) {
      render(pane, paperId, { state: "error", error: "the site could not be reached" });
      return;
    }
    render(pane, paperId, data);
    if (data.state === "queued" || data.state === "generating") follow(paperId, pane);
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
    if (!pane.hidden && pane.dataset.lang === lang()) { pane.hidden = true; return; }
    pane.dataset.lang = lang();
    ask(paperId, pane);
  });
})();
