// Lazy loading: the next 25 cards as the reader nears the bottom.

export function init() {}
