// [PDF]: the inline viewer under the card, through the same-origin proxy; click counts.

export function init() {}
