// The home page: tri-state chooser, preference keywords, word cloud.

export function init() {}
