// In-page search over the cards on the page (include/exclude lines, fields, filter).

export function init() {}
