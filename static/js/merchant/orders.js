// Orders: every order or one show's (and of one status), newest first, a page at a time,
// or exported as CSV; one order opened in full, with who bought it, where it ships, and
// its lifecycle (order-lifecycle.js).

import { ApiError } from "../api.js";
import { h, money } from "../format.js";
import { apiKey, call } from "./key.js";
import * as lists from "./lists.js";
import { lifecycle, statusWord } from "./order-lifecycle.js";
import { when } from "./units.js";
import { cells, openDialog, pager, perform, report } from "./ui.js";

const $ = (id) => document.getElementById(id);
const SOURCES = { show: "the show", link: "a share link" };

let orderPager;

export function start() {
  orderPager = pager({
    tbody: $("orders-body"),
    more: $("orders-more"),
    result: $("orders-result"),
    columns: 8,
    emptyText: "No orders yet.",
    load: (after) => call("/api/orders", { query: { ...filters(), after } }),
    row: orderRow,
  });
  $("orders-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    orderPager.reload();
  });
  $("orders-export").addEventListener("click", () =>
    perform($("orders-filter"), $("orders-result"), exportCsv, "Preparing the CSV…"),
  );
  lists.whenChanged("shows", loadShows);
  loadShows().then(() => orderPager.reload());
}

export function reopen() {
  loadShows().then(() => orderPager.reload());
}

// The Shows section's "Orders" button asks for one show, then opens this section, whose
// start() or reopen() picks the wish up when it lists the shows.
let wantedShow = null;
document.addEventListener("mc:orders-of", (event) => (wantedShow = event.detail));

/** The listing's filters as the form has them now. */
function filters() {
  return { show: $("orders-show").value, status: $("orders-status").value };
}

/**
 * Download /api/orders.csv with the current filters. The key goes in a header, which a
 * plain link cannot send, so the file is fetched and saved from a Blob.
 */
async function exportCsv() {
  const params = new URLSearchParams(Object.entries(filters()).filter(([, value]) => value));
  const query = params.toString();
  let response;
  try {
    response = await fetch(`/api/orders.csv${query ? `?${query}` : ""}`, {
      headers: { "X-API-Key": apiKey(), Accept: "text/csv" },
    });
  } catch {
    throw new ApiError(0, { error: "network" });
  }
  if (!response.ok) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    throw new ApiError(response.status, body);
  }
  const url = URL.createObjectURL(await response.blob());
  const link = h("a", { href: url, download: "orders.csv", hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return response.headers.get("X-Next-After")
    ? "Saved orders.csv with the newest 5 000 orders (the most one export holds)."
    : "Saved orders.csv.";
}

function loadShows() {
  const form = $("orders-filter");
  return perform(form, $("orders-result"), async () => {
    const shows = await lists.shows();
    lists.fillSelect($("orders-show"), shows, {
      value: (s) => s.id,
      label: (s) => `${s.title} (${s.id})`,
      placeholder: "All shows",
    });
    if (wantedShow) {
      $("orders-show").value = wantedShow;
      wantedShow = null;
    }
    return "";
  }, "Loading shows…");
}

function items(order) {
  return order.lines.map((l) => `${l.quantity} × ${l.title}`).join(", ");
}

function buyerName(order) {
  return order.contact?.name || order.ship_to?.name || order.buyer;
}

function orderRow(order) {
  const open = h("button", { type: "button", class: "lc-button lc-button--small" }, "Open");
  open.addEventListener("click", () => openOrder(order.id));
  return h(
    "tr",
    { "data-order": order.id },
    cells(
      order.id,
      when(order.confirmed_at_ms),
      order.show,
      buyerName(order),
      items(order),
      money(order.total, order.currency),
      statusWord(order.status),
      open,
    ),
  );
}

function resultLine() {
  return h("p", { class: "lc-result", role: "status", "aria-live": "polite" });
}

async function openOrder(id) {
  const detail = $("order-detail");
  $("order-dialog-title").textContent = `Order ${id}`;
  detail.replaceChildren(resultLine());
  openDialog($("order-dialog"));
  await perform(detail, detail.querySelector(".lc-result"), async () => {
    const order = await call(`/api/orders/${encodeURIComponent(id)}`);
    showOrder(order);
    return "";
  }, "Loading the order…");
}

/** Draw `order` in the detail; after a move, `said` tells what was done. */
function showOrder(order, said = "") {
  const result = resultLine();
  $("order-detail").replaceChildren(result, ...orderDetail(order));
  if (said) report(result, "ok", said);
}

/** A move answered with the order as it now stands: redraw the detail and its row. */
function changed(order, said) {
  showOrder(order, said);
  const row = $("orders-body").querySelector(`tr[data-order="${CSS.escape(order.id)}"]`);
  row?.replaceWith(orderRow(order));
}

function facts(pairs) {
  return h("dl", { class: "mc-facts" }, pairs.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value ?? "—")]));
}

/** "SE" -> "Sweden", in the reader's language; the code itself if the browser has no name. */
function countryName(code) {
  try {
    return new Intl.DisplayNames(undefined, { type: "region" }).of(code) || code;
  } catch {
    return code;
  }
}

/** The address as a label prints it, one line each. */
function addressLines(shipTo) {
  if (!shipTo) return [h("p", { class: "lc-muted" }, "No shipping address: the buyer placed it without a profile.")];
  const cityLine = [shipTo.postal_code, shipTo.city].filter(Boolean).join(" ");
  const country = shipTo.country ? countryName(shipTo.country) : "";
  const lines = [shipTo.name, shipTo.line1, shipTo.line2, cityLine, shipTo.region, country].filter(Boolean);
  return [h("address", { class: "mc-address" }, lines.flatMap((line, i) => (i ? [h("br"), line] : [line])))];
}

function orderDetail(order) {
  const lines = h(
    "table",
    { class: "mc-table" },
    h("caption", { class: "lc-sr-only" }, "Items"),
    h("thead", {}, h("tr", {}, ["Item", "Units", "Unit price", "Total", "Commission"].map((t) => h("th", { scope: "col" }, t)))),
    h(
      "tbody",
      {},
      order.lines.map((l) =>
        h(
          "tr",
          {},
          cells(
            `${l.title} (${l.sku})${l.flash_sale ? " · flash sale" : ""}`,
            l.quantity,
            money(l.unit_price, order.currency),
            money(l.line_total, order.currency),
            money(l.commission, order.currency),
          ),
        ),
      ),
    ),
  );
  const attribution = order.attribution
    ? `${order.attribution.creator}, through ${SOURCES[order.attribution.source] ?? order.attribution.source}`
    : "Nobody";
  return [
    facts([
      ["Status", statusWord(order.status)],
      ["Confirmed", when(order.confirmed_at_ms)],
      ["Show", order.show],
      // Orders placed before shipping fees have no breakdown: their total is the items.
      ...(order.shipping === undefined
        ? []
        : [
            ["Items", money(order.items_total, order.currency)],
            ["Shipping", order.shipping ? money(order.shipping, order.currency) : "Free"],
          ]),
      ["Total", money(order.total, order.currency)],
      ...(order.refunded_total ? [["Refunded", money(order.refunded_total, order.currency)]] : []),
      ["Creator commission", `${money(order.commission_total, order.currency)} to ${attribution}`],
      ["Payment", `${order.payment?.provider ?? "—"} ${order.payment?.reference ?? ""}`.trim()],
    ]),
    h("h3", {}, "Buyer"),
    facts([
      ["Name", order.contact?.name ?? order.ship_to?.name ?? "—"],
      ["Email", order.contact?.email ? h("a", { href: `mailto:${order.contact.email}` }, order.contact.email) : "—"],
      ["Buyer id", order.buyer],
    ]),
    h("h3", {}, "Ship to"),
    ...addressLines(order.ship_to),
    h("h3", {}, "Items"),
    h("div", { class: "mc-table-wrap", tabindex: "0", role: "region", "aria-label": "Items" }, lines),
    ...lifecycle(order, changed),
  ];
}
