// /stars: every paper starred in this browser, newest first, filterable.

export function init() {}
