// The reader's stars, kept in this browser (localStorage) — the one door to them: the next
// issue moves the same stars to the server behind the same functions.

export function init() {}
