// The moderator's show-wide controls: pausing and resuming sales (with a reason viewers
// read), slow mode, and the show's blocked words. Each shows the state the hub reports
// (sales, `slow_mode`, `blocked_keywords`) and says each tap's outcome in place.

import { h, showResult } from "../format.js";
import { perform } from "../staff.js";

const MAX_KEYWORD_CHARS = 50;

function secondsWords(seconds) {
  if (seconds % 60 === 0 && seconds >= 60) return `${seconds / 60} min`;
  return `${seconds} s`;
}

export function mountSales(section, { hub }) {
  const $ = (selector) => section.querySelector(selector);
  const stateLine = $("#sales-state");
  const form = $("#sales-form");
  const reason = $("#sales-reason");
  const pause = $("#sales-pause");
  const resume = $("#sales-resume");
  const result = $("#sales-result");
  const role = () => hub.state.you.role;

  function render() {
    const show = hub.state.show;
    const paused = show?.sales === "paused";
    stateLine.textContent = !show
      ? ""
      : paused
        ? `Sales are paused${show.sales_reason ? `: ${show.sales_reason}` : ""}`
        : "Sales are open";
    section.dataset.sales = paused ? "paused" : "open";
    const focused = document.activeElement;
    if (pause.getAttribute("aria-busy") !== "true") pause.disabled = !show || paused;
    if (resume.getAttribute("aria-busy") !== "true") resume.disabled = !show || !paused;
    // A button that just went disabled would drop a keyboard user's focus: hand it on.
    if (focused === pause && pause.disabled) resume.focus();
    if (focused === resume && resume.disabled) reason.focus();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = reason.value.trim();
    await perform(
      pause,
      result,
      "Pausing sales…",
      async () => {
        const reply = await hub.request("sales_pause", text ? { reason: text } : {});
        return reply.changed ? "Sales paused ✓ Viewers see the reason" : "Sales were already paused";
      },
      role,
    );
    render();
  });
  resume.addEventListener("click", async () => {
    await perform(
      resume,
      result,
      "Resuming sales…",
      async () => {
        const reply = await hub.request("sales_resume");
        if (reply.changed) reason.value = "";
        return reply.changed ? "Sales are open again ✓" : "Sales were already open";
      },
      role,
    );
    render();
  });

  hub.subscribe(render);
  render();
}

export function mountSlowMode(section, { hub }) {
  const $ = (selector) => section.querySelector(selector);
  const stateLine = $("#slow-state");
  const form = $("#slow-form");
  const select = $("#slow-seconds");
  const submit = form.querySelector("button[type=submit]");
  const result = $("#slow-result");
  const role = () => hub.state.you.role;
  let shown = null;

  function render() {
    const seconds = hub.state.slowModeS ?? 0;
    stateLine.textContent = seconds ? `Slow mode is on: ${secondsWords(seconds)} between a viewer's messages` : "Slow mode is off";
    if (seconds !== shown) {
      shown = seconds;
      // A length set elsewhere (another moderator, the API) that the list lacks joins it.
      if (![...select.options].some((o) => Number(o.value) === seconds)) {
        select.append(new Option(secondsWords(seconds), String(seconds)));
      }
      select.value = String(seconds);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const seconds = Number(select.value);
    await perform(
      submit,
      result,
      "Setting slow mode…",
      async () => {
        const reply = await hub.request("slow_mode", { seconds });
        if (!reply.changed) return "Slow mode was already set so";
        return seconds ? `Slow mode on ✓ ${secondsWords(seconds)}` : "Slow mode off ✓";
      },
      role,
    );
  });

  hub.subscribe(render);
  render();
}

export function mountKeywords(section, { hub }) {
  const $ = (selector) => section.querySelector(selector);
  const list = $("#keyword-list");
  const none = $("#keyword-none");
  const form = $("#keyword-form");
  const input = $("#keyword-input");
  const add = form.querySelector("button[type=submit]");
  const result = $("#keyword-result");
  const role = () => hub.state.you.role;

  const current = () => hub.state.moderation?.blockedKeywords ?? [];

  function send(button, words, pendingText, doneText) {
    return perform(
      button,
      result,
      pendingText,
      async () => {
        await hub.request("blocked_keywords", { words });
        return doneText;
      },
      role,
    );
  }

  function render() {
    const words = current();
    if (list.dataset.words === words.join("\n")) return; // unchanged: keep focus where it is
    list.dataset.words = words.join("\n");
    list.replaceChildren(
      ...words.map((word) => {
        const remove = h(
          "button",
          { type: "button", class: "lc-button lc-button--small mod-chip" },
          h("span", { class: "lc-sr-only", text: "Unblock " }),
          word,
          h("span", { "aria-hidden": "true", text: " ×" }),
        );
        remove.addEventListener("click", async () => {
          const done = await send(remove, current().filter((w) => w !== word), `Unblocking ${word}…`, `“${word}” is allowed again ✓`);
          if (done) input.focus(); // its chip goes with the list's event: keep the focus in the panel
        });
        return h("li", {}, remove);
      }),
    );
    none.hidden = words.length > 0;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const added = input.value
      .split(",")
      .map((word) => word.trim())
      .filter(Boolean);
    const tooLong = added.find((word) => word.length > MAX_KEYWORD_CHARS);
    if (!added.length || tooLong) {
      input.setAttribute("aria-invalid", "true");
      showResult(result, "refused", tooLong ? `A word may have at most ${MAX_KEYWORD_CHARS} characters` : "Type a word to block");
      return;
    }
    input.removeAttribute("aria-invalid");
    const ok = await send(add, [...current(), ...added], "Blocking…", `Blocked ${added.map((w) => `“${w}”`).join(", ")} ✓`);
    if (ok) input.value = "";
  });

  hub.subscribe(render);
  render();
}
