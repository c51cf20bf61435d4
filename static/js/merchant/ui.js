// The console's small toolkit: show a result in place, put a refusal on the field it
// names, page through a listing (elements are built with format.js's `h`).
// Every action goes through `perform`, so none can fail silently.

import { h } from "../format.js";
import { say } from "../messages.js";

/** A refusal the page finds before asking the server, on the field it names. */
export class FieldError extends Error {
  constructor(field, message) {
    super(message);
    this.name = "FieldError";
    this.field = field;
    this.code = "invalid";
  }
}

// Codes whose server message is the sentence itself (it names the field and what is
// wrong with it); for every other code the messages table has the words.
const SAID_BY_SERVER = new Set(["invalid", "not_found", "conflict"]);
// Codes whose server detail would only repeat the table's sentence.
const SAID_BY_TABLE = /^(api_key_|token_|network$|store_unavailable$|server_error$)/;

/** The words for a refusal, never a raw code. */
export function explain(error) {
  if (error instanceof FieldError) return error.message;
  const detail = error?.body?.message;
  if (detail && SAID_BY_SERVER.has(error.code)) return detail.charAt(0).toUpperCase() + detail.slice(1);
  const words = say(error?.code);
  if (!detail || detail === words || SAID_BY_TABLE.test(error?.code ?? "")) return words;
  return `${words} (${detail})`;
}

/** Show `text` in a `.lc-result` element: kind is "ok", "refused" or "pending". */
export function report(result, kind, text) {
  if (!result) return;
  result.dataset.kind = kind;
  result.textContent = text;
}

/** The control that a server field name points at: `name="..."`, `data-field`, or the
 * list it is an item of (`skus[2]` -> the `skus` control). */
export function controlFor(scope, field) {
  if (!field) return null;
  const candidates = [field, field.replace(/\[\d+\]$/, ""), field.replace(/\[\d+\].*$/, "")];
  for (const name of candidates) {
    const found =
      scope.querySelector(`[name="${CSS.escape(name)}"]`) ||
      scope.querySelector(`[data-field="${CSS.escape(name)}"]`);
    if (found) return found;
  }
  return null;
}

export function clearErrors(scope) {
  for (const control of scope.querySelectorAll("[aria-invalid='true']")) {
    control.removeAttribute("aria-invalid");
  }
  for (const message of scope.querySelectorAll(".lc-field-error")) message.textContent = "";
}

function fieldMessage(control) {
  const holder = control.closest(".lc-field") || control.parentElement;
  let message = holder.querySelector(".lc-field-error");
  if (!message) {
    message = h("p", { class: "lc-field-error", id: `${control.id || control.name}-error` });
    holder.append(message);
  }
  const described = new Set((control.getAttribute("aria-describedby") || "").split(" ").filter(Boolean));
  described.add(message.id);
  control.setAttribute("aria-describedby", [...described].join(" "));
  return message;
}

/** Put `error` on screen: the result line says it, and the field it names is marked. */
export function refuse(scope, result, error) {
  const text = explain(error);
  report(result, "refused", text);
  const control = controlFor(scope, error?.field);
  if (control) {
    control.setAttribute("aria-invalid", "true");
    fieldMessage(control).textContent = text;
    control.focus();
  }
}

/**
 * Run `action` for a form or a row: clear old marks, say it is pending, then the
 * result it resolves to (a sentence) or the refusal in words.
 */
export async function perform(scope, result, action, pending = "Working…") {
  clearErrors(scope);
  report(result, "pending", pending);
  const buttons = [...scope.querySelectorAll("button")].filter((b) => !b.disabled);
  for (const button of buttons) button.disabled = true;
  try {
    const text = await action();
    report(result, "ok", text ?? "Done.");
    return true;
  } catch (error) {
    refuse(scope, result, error);
    return false;
  } finally {
    for (const button of buttons) button.disabled = false;
  }
}

/** Wire a `<form>`: `action(form)` runs on submit through `perform`. */
export function onSubmit(form, action, pending = "Saving…") {
  const result = form.querySelector(".lc-result");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    perform(form, result, () => action(form), pending);
  });
}

/**
 * A listing a page at a time into `tbody`: `load(after)` resolves to `{items, next}`,
 * `row(item)` makes a `<tr>`. The More button shows while there is a next page; an
 * empty listing shows `emptyText` in one row.
 */
export function pager({ tbody, more, result, load, row, emptyText, columns }) {
  let next = null;
  async function page(after) {
    const answer = await load(after);
    if (!after) tbody.replaceChildren();
    for (const item of answer.items) tbody.append(row(item));
    if (!tbody.children.length) {
      tbody.append(h("tr", {}, h("td", { colspan: columns, class: "lc-muted" }, emptyText)));
    }
    next = answer.next;
    more.hidden = !next;
    return answer;
  }
  more.addEventListener("click", () =>
    perform(more.parentElement, result, async () => {
      await page(next);
      return "";
    }, "Loading more…"),
  );
  return {
    /** The first page again, its refusal shown on `result`. */
    reload: () => perform(tbody.closest("table"), result, async () => {
      await page(null);
      return "";
    }, "Loading…"),
    /** The first page again, for an action that reports its own outcome (it throws). */
    load: () => page(null),
  };
}

/** Table cells for `values`: a Node goes in as it is, anything else as text ("—" for none). */
export function cells(...values) {
  return values.map((value) => (value instanceof Node ? h("td", {}, value) : h("td", {}, String(value ?? "—"))));
}

/** Open a `<dialog>` as a modal and make its [data-close] buttons close it. */
export function openDialog(dialog) {
  for (const button of dialog.querySelectorAll("[data-close]")) {
    button.onclick = () => dialog.close();
  }
  if (!dialog.open) dialog.showModal();
}
