// The bottom bar: star list (un-star/re-star, scroll-to, Export, BibTeX), settings.

export function init() {}
