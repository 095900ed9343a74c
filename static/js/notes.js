// Notes on papers, on every card, for a lab's members (body[data-member]): the member's own note
// (private, or shared with the lab) and the notes other members shared, each a div.note in the
// card's div.notes: who wrote it, shared or private, and the text.
//
// The cards on the page at load, and each batch lazy loading adds (cp:cards), are asked for in
// one GET /api/notes?ids=… per 200 ids. A [Note] button on each card (put there by this script:
// without it there is nothing to write with) opens an editor under the card: the text (Markdown,
// at most 10,000 characters), "share with the lab", Save (PUT /api/papers/{id}/note), Delete
// (DELETE) and Cancel. The editor starts from the server's copy of the note, read again when it
// opens (another tab may have changed it).
//
// A note's text is the member's own: everything is built with textContent, except the note's
// "html" field, which the server rendered from the Markdown and sanitized (nh3: no scripts, no
// event attributes, no images, http(s)/mailto links only). That field alone is inserted as markup.

const MAX_IDS = 200;        // what GET /api/notes takes at once (web/notes.py)
const MAX_CHARS = 10000;    // a note's length (web/notes.py)

const answered = new Map();   // id -> the notes the server last gave for the card
const asked = new Map();      // id -> the newest request that asked for it (later ones win)
let requests = 0;

function me() {
  return document.body.dataset.member || "";
}

function noteUrl(id) {
  return `/api/papers/${encodeURI(id)}/note`;  // old-style ids keep their slash
}

function cardsIn(root) {
  if (root.matches && root.matches("div.paper[id]")) return [root];
  return [...root.querySelectorAll("div.paper[id]")];
}

function clean(note) {
  if (!note || typeof note !== "object") return null;
  if (typeof note.author !== "string" || typeof note.body !== "string") return null;
  return {
    author: note.author,
    body: note.body,
    html: typeof note.html === "string" ? note.html : "",
    shared: note.shared === true,
    mine: note.mine === true,
    updated: typeof note.updated_at === "string" ? note.updated_at : "",
  };
}

function mineOf(id) {
  return (answered.get(id) || []).find((note) => note.mine) || null;
}

function noteDiv(note) {
  const div = document.createElement("div");
  div.className = `note ${note.mine ? "mine" : "theirs"} ${note.shared ? "shared" : "private"}`;
  div.dataset.author = note.author;
  const meta = document.createElement("p");
  meta.className = "note-meta";
  const author = document.createElement("span");
  author.className = "note-author";
  author.textContent = note.mine ? `${note.author} (you)` : note.author;
  const scope = document.createElement("span");
  scope.className = "note-scope";
  scope.textContent = note.shared ? "shared with the lab" : "private";
  meta.append(author, " · ", scope);
  if (note.updated) {
    const time = document.createElement("time");
    time.dateTime = note.updated;
    time.textContent = note.updated.slice(0, 10);
    meta.append(" · ", time);
  }
  const body = document.createElement("div");
  body.className = "note-body";
  body.innerHTML = note.html;  // the server's sanitized rendering (see the top of this file)
  div.append(meta, body);
  return div;
}

function holder(card, create) {
  let box = card.querySelector(":scope > div.notes");
  if (!box && create) {
    box = document.createElement("div");
    box.className = "notes";
    box.id = `notes-${card.id}`;
    const pane = card.querySelector(":scope > div.pdf-pane");
    if (pane) pane.before(box);
    else card.append(box);
  }
  return box;
}

function draw(card) {
  const list = answered.get(card.id) || [];
  const button = card.querySelector("button.title-note");
  if (button) button.classList.toggle("has-note", list.some((note) => note.mine));
  const box = holder(card, list.length > 0);
  if (!box) return;
  const shown = list.map(noteDiv);
  const editor = box.querySelector(":scope > form.note-editor");
  box.replaceChildren(...shown);
  if (editor) box.append(editor);
  if (!box.children.length) box.remove();
}

function drawId(id) {
  const card = document.getElementById(id);
  if (card && card.matches("div.paper")) draw(card);
}

async function ask(ids) {
  const wanted = [...new Set(ids)];
  for (let start = 0; start < wanted.length; start += MAX_IDS) {
    const chunk = wanted.slice(start, start + MAX_IDS);
    const request = ++requests;
    for (const id of chunk) asked.set(id, request);
    let notes;
    try {
      const url = `/api/notes?ids=${chunk.map(encodeURIComponent).join(",")}`;
      const answer = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!answer.ok) throw new Error(`${answer.status} ${answer.statusText}`);
      notes = (await answer.json()).notes;
    } catch (err) {
      console.warn("coolpapers: the notes could not be read", err);
      continue;
    }
    const found = new Map(chunk.map((id) => [id, []]));
    for (const raw of Array.isArray(notes) ? notes : []) {
      const note = clean(raw);
      if (note && found.has(raw.paper_id)) found.get(raw.paper_id).push(note);
    }
    for (const [id, list] of found) {
      if (asked.get(id) !== request) continue;  // a newer request asked since: its answer wins
      answered.set(id, list);
      drawId(id);
    }
  }
}

/** The card's own note changed (saved or deleted): the others' stay as they were. */
function setMine(id, note) {
  asked.set(id, ++requests);  // an answer already in flight would be older than this
  const others = (answered.get(id) || []).filter((n) => !n.mine);
  answered.set(id, note ? [note, ...others] : others);
  drawId(id);
}

// ------------------------------------------------------------------------------- the editor

function button(label, kind, type = "button") {
  const b = document.createElement("button");
  b.type = type;
  b.className = kind;
  b.textContent = label;
  return b;
}

function closeEditor(card) {
  const editor = card.querySelector("form.note-editor");
  if (editor) editor.remove();
  const box = holder(card, false);
  if (box && !box.children.length) box.remove();
  const toggle = card.querySelector("button.title-note");
  if (toggle) {
    toggle.setAttribute("aria-expanded", "false");
    toggle.focus();
  }
}

async function readMine(id) {
  // through the list (200, with or without a note), not GET …/note (a 404 when there is none)
  const url = `/api/notes?ids=${encodeURIComponent(id)}`;
  const answer = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!answer.ok) throw new Error(`${answer.status} ${answer.statusText}`);
  const notes = (await answer.json()).notes;
  const mine = (Array.isArray(notes) ? notes : []).find((n) => n && n.mine === true && n.paper_id === id);
  return mine ? clean(mine) : null;
}

async function errorOf(answer) {
  try {
    const data = await answer.json();
    if (data && typeof data.error === "string") return data.error;
  } catch (err) {
    // not JSON: the status says it
  }
  return `${answer.status} ${answer.statusText}`;
}

function openEditor(card) {
  const id = card.id;
  const form = document.createElement("form");
  form.className = "note-editor";
  form.noValidate = true;
  const text = document.createElement("textarea");
  text.className = "note-text";
  text.rows = 4;
  text.maxLength = MAX_CHARS;
  text.placeholder = "Your note (Markdown)";
  text.setAttribute("aria-label", `your note on ${id}`);
  text.disabled = true;
  const share = document.createElement("input");
  share.type = "checkbox";
  share.className = "note-share";
  const shareLabel = document.createElement("label");
  shareLabel.className = "note-share-label";
  shareLabel.append(share, " share with the lab");
  const save = button("Save", "note-save", "submit");
  const remove = button("Delete", "note-delete");
  const cancel = button("Cancel", "note-cancel");
  const status = document.createElement("span");
  status.className = "note-status";
  status.setAttribute("aria-live", "polite");
  const row = document.createElement("p");
  row.className = "note-actions";
  row.append(shareLabel, save, remove, cancel, status);
  form.append(text, row);
  save.disabled = remove.disabled = true;
  remove.hidden = true;
  holder(card, true).append(form);
  card.querySelector("button.title-note")?.setAttribute("aria-expanded", "true");

  const busy = (on, message = "") => {
    text.disabled = save.disabled = remove.disabled = on;
    status.textContent = message;
  };
  busy(true, "loading…");
  readMine(id).then((note) => {
    text.value = note ? note.body : "";
    share.checked = note ? note.shared : false;
    remove.hidden = !note;
    busy(false);
    setMine(id, note);
    text.focus();
  }).catch((err) => {
    console.warn("coolpapers: the note could not be read", err);
    status.textContent = "could not read the note; try again";
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!text.value.trim()) {
      status.textContent = "write something first (or Delete the note)";
      return;
    }
    busy(true, "saving…");
    try {
      const answer = await fetch(noteUrl(id), {
        method: "PUT",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ body: text.value, shared: share.checked }),
      });
      if (!answer.ok) throw new Error(await errorOf(answer));
      setMine(id, clean(await answer.json()));
      closeEditor(card);
    } catch (err) {
      busy(false, `not saved: ${err.message}`);
    }
  });
  remove.addEventListener("click", async () => {
    busy(true, "deleting…");
    try {
      const answer = await fetch(noteUrl(id), { method: "DELETE", credentials: "same-origin" });
      if (!answer.ok) throw new Error(await errorOf(answer));
      setMine(id, null);
      closeEditor(card);
    } catch (err) {
      busy(false, `not deleted: ${err.message}`);
    }
  });
  cancel.addEventListener("click", () => closeEditor(card));
  form.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      closeEditor(card);
    }
  });
}

function addButton(card) {
  const title = card.querySelector(":scope > h2.title");
  if (!title || title.querySelector("button.title-note")) return;
  const toggle = button("[Note]", "title-note notranslate");
  toggle.dataset.paper = card.id;
  toggle.title = "Write a note on this paper: for you, or shared with the lab";
  toggle.setAttribute("aria-expanded", "false");
  const copy = title.querySelector("button.title-copy");
  if (copy) copy.after(" ", toggle);  // spaced like the links around it
  else title.append(" ", toggle);
}

function setUp(cards) {
  for (const card of cards) addButton(card);
  const ids = cards.map((card) => card.id);
  return ids.length ? ask(ids) : Promise.resolve();
}

export function init() {
  if (!me() || document.body.dataset.auth === "none") return;
  setUp(cardsIn(document));
  document.addEventListener("cp:cards", (event) => {
    const cards = (event.detail && event.detail.cards) || [];
    setUp(cards.filter((c) => c instanceof Element && c.matches("div.paper[id]")));
  });
  document.addEventListener("click", (event) => {
    const toggle = event.target instanceof Element ? event.target.closest("button.title-note") : null;
    if (!toggle) return;
    const card = toggle.closest("div.paper[id]");
    if (!card) return;
    if (card.querySelector("form.note-editor")) closeEditor(card);
    else openEditor(card);
  });
}
