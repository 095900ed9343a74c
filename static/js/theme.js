// Runs in <head>, before the first paint: marks the page as scripted (html.js shows the buttons
// that need the script) and applies the reader's theme without a flash of the other one.
"use strict";
document.documentElement.classList.add("js");
