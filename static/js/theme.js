// Runs in <head>, before the first paint: marks the page as scripted (html.js shows the buttons
// that need the script) and applies the reader's theme without a flash of the other one.
// The theme is localStorage "cp.theme": "light" or "dark" set html[data-theme]; "auto" (or
// nothing) leaves it off and static/app.css follows the system's prefers-color-scheme.
// static/js/theme_toggle.js is the settings panel's switch.
"use strict";
document.documentElement.classList.add("js");
(function () {
  var theme = null;
  try {
    theme = window.localStorage.getItem("cp.theme");
  } catch (err) {
    // storage refused (privacy mode, a sandbox): the system's theme it is
  }
  if (theme === "light" || theme === "dark") document.documentElement.setAttribute("data-theme", theme);
})();
