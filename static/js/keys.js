// Keyboard: j/k, s, p, f, c, /, ?.

export function init() {}
