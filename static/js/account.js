// The account page (templates/account.html): a Copy button beside each new feed address, which
// the page shows this once. Without the script the address is a read-only box to select.
export function init() {
  for (const input of document.querySelectorAll("body#account input.feed-url")) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "copy-feed-url";
    button.textContent = "Copy";
    button.addEventListener("click", async () => {
      input.select();
      try {
        await navigator.clipboard.writeText(input.value);
        button.textContent = "Copied";
      } catch {
        button.textContent = "Selected: copy it with Ctrl+C";
      }
    });
    input.addEventListener("focus", () => input.select());
    input.after(button);
  }
}
