// A Copy button for a link or a secret, shared by the pages that hand one out (the
// merchant console, the showcase). It says in place whether the text was copied.

import { h } from "./format.js";

const RESET_MS = 2500;

/** A button copying the text of `source` (an input, or any element's text). */
export function copyButton(source, label = "Copy") {
  const button = h("button", { type: "button", class: "lc-button lc-button--small" }, label);
  button.addEventListener("click", async () => {
    const text = "value" in source ? source.value : source.textContent;
    let copied = false;
    try {
      await navigator.clipboard.writeText(text);
      copied = true;
    } catch {
      // No clipboard permission (an insecure origin, a policy): select it for the person.
      if ("select" in source) {
        source.select();
        copied = document.execCommand("copy");
      }
    }
    button.textContent = copied ? "Copied ✓" : "Selected: copy it by hand";
    setTimeout(() => (button.textContent = label), RESET_MS);
  });
  return button;
}
