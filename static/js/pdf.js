// [PDF]: the inline viewer under the card, through the same-origin proxy; click counts.
//
// A plain left click on a card's a.title-pdf toggles div.pdf-viewer inside the card's .pdf-pane:
// a frame of the proxy (/api/papers/<id>/pdf: our origin, so the page's policy lets it load and
// the proxy's answer lets our pages frame it), with a download link and arXiv's own PDF link.
// Hiding keeps the frame, so opening it again is instant and fetches nothing.
// Ctrl/Cmd/Shift/Alt or middle click keeps the link's default: arXiv's PDF in a new tab.
//
// On a phone the frame is no use (Android's Chrome renders no PDF in a frame, iOS shows only its
// first page), so the proxied PDF opens in a new tab instead. "Phone": a viewport at most 600 px
// wide or a coarse pointer (a touch screen without a mouse: tablets too, for the same reason).
//
// Opening counts a click (POST /api/papers/<id>/clicks?kind=pdf, once per reader and day on the
// server) and updates sup#pdf-clicks-<id>; a failed count is silent: the PDF opens regardless.
// Then cp:opened {id, kind: "pdf"} goes out on document (the star list and the fold button).
// Delegated from document: cards added later (lazy loading, /stars) work without a cp:cards pass.

const PHONE = "(max-width: 600px), (pointer: coarse)";

function isPlainClick(event) {
  return event.button === 0 && !event.ctrlKey && !event.metaKey && !event.shiftKey && !event.altKey;
}

function link(cls, href, text) {
  const a = document.createElement("a");
  a.className = cls;
  a.href = href;
  a.textContent = text;
  return a;
}

function buildViewer(id, proxy, arxivUrl) {
  const viewer = document.createElement("div");
  viewer.className = "pdf-viewer";
  const tools = document.createElement("div");
  tools.className = "pdf-tools";
  const download = link("pdf-download", proxy, "Download PDF");
  download.download = `${id.replace("/", "_")}.pdf`;
  const arxiv = link("pdf-arxiv", arxivUrl, "Open on arXiv");
  arxiv.target = "_blank";
  arxiv.rel = "noopener";
  tools.append(download, arxiv);
  const frame = document.createElement("iframe");
  frame.className = "pdf-frame";
  frame.src = proxy;
  frame.title = `PDF of ${id}`;
  // the proxy's error page (same origin: readable) needs a line or two, not a page's height
  frame.addEventListener("load", () => {
    const doc = frame.contentDocument;
    frame.classList.toggle("pdf-failed", !!doc && doc.contentType !== "application/pdf");
  });
  viewer.append(tools, frame);
  return viewer;
}

async function countClick(id) {
  try {
    const response = await fetch(`/api/papers/${encodeURI(id)}/clicks?kind=pdf`, {
      method: "POST",
      headers: { Accept: "application/json" },
    });
    // 429: over the rate limit, not counted, but the answer still carries the counters
    if (!response.ok && response.status !== 429) return;
    const data = await response.json();
    const sup = document.getElementById(`pdf-clicks-${id}`);
    if (sup && typeof data.pdf_clicks === "number") {
      sup.textContent = data.pdf_clicks ? String(data.pdf_clicks) : "";
    }
  } catch {
    // offline, or the counter is down: the viewer does not depend on it
  }
}

function opened(id) {
  countClick(id);
  document.dispatchEvent(new CustomEvent("cp:opened", { detail: { id, kind: "pdf" } }));
}

function onClick(event) {
  const anchor = event.target instanceof Element ? event.target.closest("a.title-pdf") : null;
  if (!anchor || event.defaultPrevented || !isPlainClick(event)) return;
  const id = anchor.dataset.paper;
  const proxy = anchor.dataset.proxy;
  const card = anchor.closest(".paper");
  const pane = card && card.querySelector(".pdf-pane");
  if (!id || !proxy || !pane) return; // not a card of ours: the plain link
  event.preventDefault();
  if (window.matchMedia(PHONE).matches) {
    window.open(proxy, "_blank", "noopener");
    opened(id);
    return;
  }
  if (!pane.hidden) {
    pane.hidden = true;
    return;
  }
  if (!pane.querySelector(".pdf-viewer")) pane.append(buildViewer(id, proxy, anchor.href));
  pane.hidden = false;
  opened(id);
}

export function init() {
  document.addEventListener("click", onClick);
}
