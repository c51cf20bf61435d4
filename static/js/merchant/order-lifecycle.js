// An order's lifecycle in its detail (docs/api-orders.md, "Order lifecycle"): its status,
// every move so far, its tracking and refunds, and the moves its status allows (fulfil,
// mark delivered, cancel, refund). A move shows its pending state until the server's
// answer; the order it answers with is handed to `changed`, which redraws the detail and
// the table row. A refusal stays next to the move, in words.

import { ApiError } from "../api.js";
import { h, money } from "../format.js";
import { say } from "../messages.js";
import { call } from "./key.js";
import { FieldError, onSubmit } from "./ui.js";
import { majorText, parseMajor, when } from "./units.js";

export const STATUSES = {
  confirmed: "Confirmed",
  fulfilled: "Fulfilled",
  delivered: "Delivered",
  cancelled: "Cancelled",
  refunded: "Refunded",
};

const WHO = { buyer: "The buyer", merchant: "You (API key)" };

export function statusWord(status) {
  return STATUSES[status] ?? status ?? "—";
}

/** What is left to refund, in minor units. */
export function refundable(order) {
  return Math.max(0, Number(order.total) - Number(order.refunded_total ?? 0));
}

/** A lifecycle refusal in the console's own words (the server's detail names codes and
 * minor units); other refusals go through as they are. */
function inWords(error, order) {
  if (!(error instanceof ApiError)) return error;
  const body = error.body ?? {};
  if (error.code === "invalid_transition") {
    return new FieldError(null, `${say("invalid_transition")}: it is ${statusWord(body.status).toLowerCase()} now`);
  }
  if (error.code === "refund_exceeds_paid") {
    const left = money(body.refundable ?? refundable(order), order.currency);
    return new FieldError("amount", `${say("refund_exceeds_paid")}: at most ${left} can be refunded`);
  }
  if (error.code === "payment_error") return new FieldError(null, say("refund_failed"));
  if (error.code in { nothing_to_refund: 1, too_many_refunds: 1, refund_in_progress: 1 }) {
    return new FieldError(error.field === "amount" ? "amount" : null, say(error.code));
  }
  return error;
}

/** POST a move of `order`; resolves to the order as it now stands, or throws in words. */
async function move(order, action, body) {
  try {
    return await call(`/api/orders/${encodeURIComponent(order.id)}/${action}`, { method: "POST", body });
  } catch (error) {
    throw inWords(error, order);
  }
}

function field(id, label, attributes = {}) {
  return h(
    "div",
    { class: "lc-field" },
    h("label", { for: id }, label),
    h("input", { id, class: "lc-input", ...attributes }),
  );
}

function resultLine() {
  return h("p", { class: "lc-result", role: "status", "aria-live": "polite" });
}

function historyTable(order) {
  const rows = (order.history ?? []).map((entry) =>
    h(
      "tr",
      {},
      h("td", {}, when(entry.at_ms)),
      h("td", {}, WHO[entry.by] ?? entry.by),
      h("td", {}, entry.from ? `${statusWord(entry.from)} → ${statusWord(entry.to)}` : statusWord(entry.to)),
      h("td", {}, entry.details?.reason || ""),
    ),
  );
  if (!rows.length) {
    rows.push(h("tr", {}, h("td", {}, when(order.confirmed_at_ms)), h("td", {}, WHO.buyer), h("td", {}, "Confirmed"), h("td", {}, "")));
  }
  return h(
    "div",
    { class: "mc-table-wrap", tabindex: "0", role: "region", "aria-label": "History" },
    h(
      "table",
      { class: "mc-table mc-history" },
      h("caption", { class: "lc-sr-only" }, "History"),
      h("thead", {}, h("tr", {}, ["When", "Who", "Move", "Reason"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows),
    ),
  );
}

function trackingFacts(order) {
  const f = order.fulfilment;
  if (!f) return [];
  const number = f.tracking_url
    ? h("a", { href: f.tracking_url, target: "_blank", rel: "noopener noreferrer" }, f.tracking_number)
    : f.tracking_number;
  return [h("h3", {}, "Tracking"), h("dl", { class: "mc-facts" }, h("dt", {}, "Carrier"), h("dd", {}, f.carrier), h("dt", {}, "Tracking number"), h("dd", {}, number))];
}

function refundList(order) {
  if (!order.refunds?.length) return [];
  return [
    h("h3", {}, "Refunds"),
    h(
      "ul",
      { class: "mc-refunds" },
      order.refunds.map((r) =>
        h("li", {}, `${money(r.amount, order.currency)} on ${when(r.at_ms)}${r.reason ? ` — ${r.reason}` : ""}`),
      ),
    ),
  ];
}

function fulfilForm(order, changed) {
  const form = h(
    "form",
    { class: "lc-form mc-subform", id: "order-fulfil-form", novalidate: true, "aria-labelledby": "order-fulfil-title" },
    h("h3", { id: "order-fulfil-title" }, "Fulfil"),
    h(
      "div",
      { class: "lc-field-row" },
      field("order-carrier", "Carrier", { name: "carrier", required: true, autocomplete: "off" }),
      field("order-tracking-number", "Tracking number", { name: "tracking_number", required: true, autocomplete: "off", spellcheck: "false" }),
    ),
    field("order-tracking-url", "Tracking URL (optional)", { name: "tracking_url", type: "url", inputmode: "url", spellcheck: "false", placeholder: "https://" }),
    h("div", { class: "lc-row" }, h("button", { type: "submit", class: "lc-button lc-button--primary" }, "Fulfil order")),
    resultLine(),
  );
  onSubmit(form, async () => {
    const value = (name) => form.elements[name].value.trim();
    if (!value("carrier")) throw new FieldError("carrier", "Write the carrier, for example PostNord");
    if (!value("tracking_number")) throw new FieldError("tracking_number", "Write the tracking number");
    const body = { carrier: value("carrier"), tracking_number: value("tracking_number") };
    if (value("tracking_url")) body.tracking_url = value("tracking_url");
    changed(await move(order, "fulfil", body), "Fulfilled: the order is on its way.");
  }, "Fulfilling…");
  return form;
}

function deliverForm(order, changed) {
  const form = h(
    "form",
    { class: "lc-form mc-subform", novalidate: true, "aria-labelledby": "order-deliver-title" },
    h("h3", { id: "order-deliver-title" }, "Delivery"),
    h("div", { class: "lc-row" }, h("button", { type: "submit", class: "lc-button lc-button--primary" }, "Mark delivered")),
    resultLine(),
  );
  onSubmit(form, async () => changed(await move(order, "deliver", {}), "Marked delivered."), "Marking delivered…");
  return form;
}

function cancelForm(order, changed) {
  const confirmBox = h(
    "div",
    { class: "mc-confirm", hidden: true },
    h("p", {}, "Cancel this order? Its units go back to the show's stock and the payment is voided. This cannot be undone."),
    h(
      "div",
      { class: "lc-row" },
      h("button", { type: "submit", class: "lc-button lc-button--primary" }, "Yes, cancel the order"),
      h("button", { type: "button", class: "lc-button", "data-keep": "" }, "Keep the order"),
    ),
  );
  const ask = h("button", { type: "button", class: "lc-button" }, "Cancel order…");
  const form = h(
    "form",
    { class: "lc-form mc-subform", novalidate: true, "aria-labelledby": "order-cancel-title" },
    h("h3", { id: "order-cancel-title" }, "Cancel"),
    field("order-cancel-reason", "Reason (optional)", { name: "reason", autocomplete: "off", maxlength: "500" }),
    h("div", { class: "lc-row" }, ask),
    confirmBox,
    resultLine(),
  );
  const askFirst = () => {
    ask.hidden = true;
    confirmBox.hidden = false;
    confirmBox.querySelector("button[type=submit]").focus();
  };
  ask.addEventListener("click", askFirst);
  // Enter in the reason field asks too: nothing is cancelled without the confirm step.
  form.addEventListener("submit", (event) => {
    if (!confirmBox.hidden) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    askFirst();
  });
  confirmBox.querySelector("[data-keep]").addEventListener("click", () => {
    confirmBox.hidden = true;
    ask.hidden = false;
    ask.focus();
  });
  onSubmit(form, async () => {
    const reason = form.elements.reason.value.trim();
    changed(await move(order, "cancel", reason ? { reason } : {}), "Cancelled: its units are back in stock.");
  }, "Cancelling…");
  return form;
}

function refundForm(order, changed) {
  const left = refundable(order);
  const form = h(
    "form",
    { class: "lc-form mc-subform", novalidate: true, "aria-labelledby": "order-refund-title" },
    h("h3", { id: "order-refund-title" }, "Refund"),
    h("p", { class: "lc-muted", id: "order-refundable" }, `Left to refund: ${money(left, order.currency)}`),
    h(
      "div",
      { class: "lc-field-row" },
      field("order-refund-amount", `Amount (${order.currency})`, {
        name: "amount",
        inputmode: "decimal",
        autocomplete: "off",
        placeholder: majorText(left, order.currency),
        "aria-describedby": "order-refundable",
      }),
      field("order-refund-reason", "Reason (optional)", { name: "reason", autocomplete: "off", maxlength: "500" }),
    ),
    h("div", { class: "lc-row" }, h("button", { type: "submit", class: "lc-button" }, "Refund")),
    resultLine(),
  );
  onSubmit(form, async () => {
    const parsed = parseMajor(form.elements.amount.value, order.currency);
    if (parsed.error) throw new FieldError("amount", parsed.error);
    if (parsed.value < 1) throw new FieldError("amount", "Write an amount above zero");
    const reason = form.elements.reason.value.trim();
    const body = { amount: parsed.value, ...(reason ? { reason } : {}) };
    changed(await move(order, "refund", body), `Refunded ${money(parsed.value, order.currency)}.`);
  }, "Refunding…");
  return form;
}

/** The lifecycle part of an order's detail: what happened, then what may happen next. */
export function lifecycle(order, changed) {
  const status = order.status ?? "confirmed";
  const moves = [];
  if (status === "confirmed") moves.push(fulfilForm(order, changed));
  if (status === "fulfilled") moves.push(deliverForm(order, changed));
  if (["confirmed", "fulfilled", "delivered"].includes(status) && refundable(order) > 0) {
    moves.push(refundForm(order, changed));
  }
  if (status === "confirmed") moves.push(cancelForm(order, changed));
  return [
    ...trackingFacts(order),
    ...refundList(order),
    h("h3", {}, "History"),
    historyTable(order),
    ...moves,
  ];
}
