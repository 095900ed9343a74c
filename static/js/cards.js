// Card actions: [Copy], fold, subject +/−, back-to-top/bottom.

export function init() {}
