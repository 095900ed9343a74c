// The theme switch of the settings panel (select#bar-theme: auto | light | dark). The choice is
// localStorage "cp.theme", read before the first paint by static/js/theme.js; html[data-theme]
// selects the palette of static/app.css ("auto": no attribute, the system's preference).

const KEY = "cp.theme";
const THEMES = ["auto", "light", "dark"];

function stored() {
  try {
    const value = window.localStorage.getItem(KEY);
    return THEMES.includes(value) ? value : "auto";
  } catch (err) {
    return "auto";
  }
}

function apply(theme) {
  const root = document.documentElement;
  if (theme === "light" || theme === "dark") root.setAttribute("data-theme", theme);
  else root.removeAttribute("data-theme");
}

function save(theme) {
  try {
    window.localStorage.setItem(KEY, theme);
  } catch (err) {
    // not kept (storage refused), still applied to this page
  }
}

export function init() {
  const select = document.getElementById("bar-theme");
  if (select) {
    select.value = stored();
    select.addEventListener("change", () => {
      const theme = THEMES.includes(select.value) ? select.value : "auto";
      save(theme);
      apply(theme);
    });
  }
  // another tab changed it: follow
  window.addEventListener("storage", (event) => {
    if (event.key !== KEY && event.key !== null) return;
    const theme = stored();
    apply(theme);
    if (select) select.value = theme;
  });
}
