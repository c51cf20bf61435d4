// Shows: the list (by state), a new show with its lineup and schedule, each show's
// stock report with restock and lineup additions, its studio, and staff links.

import { h } from "../format.js";
import { call } from "./key.js";
import * as lists from "./lists.js";
import { localInputMs, when } from "./units.js";
import { FieldError, cells, onSubmit, openDialog, pager, perform, report } from "./ui.js";
import { openStaffLinks, openStudio } from "./staff.js";

const $ = (id) => document.getElementById(id);
const STATE_WORDS = { live: "Live", scheduled: "Scheduled", ended: "Ended" };
const OWN_SHOW = "Brand's own show"; // a show with no creator: nobody earns commission on it

let showPager;
let brandProducts = []; // the chosen brand's products, for the lineup pickers
let stockShow = null; // the show whose stock dialog is open

export function start() {
  showPager = pager({
    tbody: $("shows-body"),
    more: $("shows-more"),
    result: $("shows-result"),
    columns: 7,
    emptyText: "No shows here yet.",
    load: (after) => call("/api/shows", { query: { state: $("shows-state").value, after } }),
    row: showRow,
  });
  $("shows-state").addEventListener("change", () => showPager.reload());
  $("show-brand").addEventListener("change", loadBrandProducts);
  $("lineup-add").addEventListener("click", () => addLineupRow());
  onSubmit($("show-form"), createShow, "Creating the show…");
  onSubmit($("restock-form"), restock);
  onSubmit($("lineup-add-form"), addToLineup);
  lists.whenChanged("brands", loadPickers);
  lists.whenChanged("creators", loadPickers);
  lists.whenChanged("products", loadBrandProducts);
  showPager.reload();
  loadPickers();
}

export function reopen() {
  showPager.reload();
  loadPickers();
}

function loadPickers() {
  const form = $("show-form");
  return perform(form, form.querySelector(".lc-result"), async () => {
    const [brands, creators] = await Promise.all([lists.brands(), lists.creators()]);
    lists.fillSelect($("show-brand"), brands, { value: (b) => b.id, label: (b) => `${b.name} (${b.id})` });
    fillCreators(creators);
    await refreshBrandProducts();
    if (!brands.length) return "Create a brand and its products first (Catalog).";
    return "";
  }, "Loading brands and creators…");
}

/** The creators, then the brand's own show (no creator, sent as no `creator` field).
 * The first fill picks the first creator, as a show usually has one; a refill keeps
 * what the merchant chose, the brand's own show included. */
function fillCreators(creators) {
  const select = $("show-creator");
  const filled = select.options.length > 0;
  const kept = select.value;
  lists.fillSelect(select, creators, { value: (c) => c.id, label: (c) => `${c.name} (${c.id})` });
  select.append(h("option", { value: "" }, `${OWN_SHOW} (no creator)`));
  if (filled && kept === "") select.value = "";
}

async function refreshBrandProducts() {
  const brand = $("show-brand").value;
  brandProducts = brand ? await lists.products(brand) : [];
  const rows = $("lineup-rows");
  for (const select of rows.querySelectorAll("select")) fillProducts(select);
  if (!rows.children.length && brandProducts.length) addLineupRow();
}

function loadBrandProducts() {
  const form = $("show-form");
  return perform(form, form.querySelector(".lc-result"), async () => {
    await refreshBrandProducts();
    return "";
  }, "Loading the brand's products…");
}

function fillProducts(select) {
  fillSellables(select, brandProducts);
}

/** What a show can sell of `products`, by product: each variant of a product that has
 * variants (a show keeps stock per variant, and names it by the variant's SKU), else
 * the product itself. `name` is how the stock table calls it. */
function sellableGroups(products) {
  return products.map((product) => ({
    product,
    items: product.variants?.length
      ? product.variants.map((v) => ({
          sku: v.sku,
          label: `${product.title} · ${v.values.join(" / ")} (${v.sku})`,
          name: `${product.title} · ${v.values.join(" / ")}`,
        }))
      : [{ sku: product.sku, label: `${product.title} (${product.sku})`, name: product.title }],
  }));
}

/** Fill `select` with what the show can sell, a product's variants grouped under its
 * title, leaving out the SKUs in `skip`; the choice is kept when it is still there. */
function fillSellables(select, products, skip = new Set()) {
  const kept = select.value;
  const option = (item) => h("option", { value: item.sku }, item.label);
  select.replaceChildren(
    ...sellableGroups(products).flatMap(({ product, items }) => {
      const left = items.filter((item) => !skip.has(item.sku));
      if (!left.length) return [];
      if (!product.variants?.length) return left.map(option);
      return [h("optgroup", { label: `${product.title} (${product.sku})` }, left.map(option))];
    }),
  );
  if ([...select.options].some((o) => o.value === kept)) select.value = kept;
}

/** One lineup line: a product of the brand and its units. Names follow the API's
 * field names (`lineup[2].quantity`), so a refusal lands on the right input. */
function addLineupRow() {
  const rows = $("lineup-rows");
  const n = rows.children.length;
  const select = h("select", { class: "lc-select", id: `lineup-sku-${n}`, name: `lineup[${n}].sku` });
  fillProducts(select);
  // A new line starts on the first product (or variant) no other line has: adding a
  // line per variant is then a tap each.
  const taken = new Set([...rows.querySelectorAll("select")].map((s) => s.value));
  const free = [...select.options].find((o) => !taken.has(o.value));
  if (free) select.value = free.value;
  const quantity = h("input", {
    class: "lc-input",
    id: `lineup-qty-${n}`,
    name: `lineup[${n}].quantity`,
    inputmode: "numeric",
    value: "10",
  });
  const remove = h("button", { type: "button", class: "lc-button lc-button--small" }, "Remove");
  const row = h(
    "li",
    { class: "mc-lineup__row" },
    h("div", { class: "lc-field mc-grow" }, h("label", { for: select.id }, `Product ${n + 1}`), select),
    h("div", { class: "lc-field mc-qty" }, h("label", { for: quantity.id }, "Units"), quantity),
    remove,
  );
  remove.addEventListener("click", () => {
    row.remove();
    renumberLineup();
  });
  rows.append(row);
}

function renumberLineup() {
  [...$("lineup-rows").children].forEach((row, i) => {
    const [select, quantity] = row.querySelectorAll("select, input");
    select.name = `lineup[${i}].sku`;
    select.id = `lineup-sku-${i}`;
    quantity.name = `lineup[${i}].quantity`;
    quantity.id = `lineup-qty-${i}`;
    const [productLabel, unitsLabel] = row.querySelectorAll("label");
    productLabel.htmlFor = select.id;
    productLabel.textContent = `Product ${i + 1}`;
    unitsLabel.htmlFor = quantity.id;
  });
}

function wholeUnits(text, field) {
  if (!/^\s*\d{1,7}\s*$/.test(text)) throw new FieldError(field, "Write a whole number of units");
  return Number(text);
}

/** Creating a show is safe to retry, so the API answers an existing id with that show
 * (200) instead of refusing it: the console asks first, so a merchant never takes an
 * old show for the one they just described. */
async function refuseTakenId(id) {
  if (!id) return; // the server names the missing id
  try {
    await call(`/api/shows/${encodeURIComponent(id)}`);
  } catch (error) {
    if (error.code === "not_found" || error.field === "show") return;
    throw error;
  }
  throw new FieldError("id", `A show with the id ${id} exists already. Choose another id`);
}

async function createShow(form) {
  const f = form.elements;
  const scheduled = localInputMs(f.scheduled_at_ms.value);
  if (scheduled === undefined) throw new FieldError("scheduled_at_ms", "Pick a date and time");
  const lineup = [...$("lineup-rows").children].map((row, i) => ({
    sku: row.querySelector("select").value,
    quantity: wholeUnits(row.querySelector("input").value, `lineup[${i}].quantity`),
  }));
  const body = {
    id: f.id.value.trim(),
    title: f.title.value.trim(),
    brand: f.brand.value,
    lineup,
  };
  if (f.creator.value) body.creator = f.creator.value; // none: the brand's own show
  if (scheduled !== null) body.scheduled_at_ms = scheduled;
  await refuseTakenId(body.id);
  const show = await call("/api/shows", { method: "POST", body });
  showPager.reload();
  lists.announce("shows");
  const units = show.lineup.reduce((sum, p) => sum + p.allocated, 0);
  return `Show ${show.id} is ${STATE_WORDS[show.state].toLowerCase()} with ${show.lineup.length} products (${units} units). Open its studio or make staff links from the list above.`;
}

function showRow(show) {
  const actions = h("span", { class: "mc-actions" });
  const button = (label, action) => {
    const b = h("button", { type: "button", class: "lc-button lc-button--small" }, label);
    b.addEventListener("click", action);
    actions.append(b);
  };
  button("Stock", () => openStock(show));
  if (show.state !== "ended") {
    button("Studio", () => openStudio(show.id, $("shows-result")));
    button("Staff links", () => openStaffLinks(show.id));
  }
  button("Orders", () => {
    location.hash = `#orders`;
    document.dispatchEvent(new CustomEvent("mc:orders-of", { detail: show.id }));
  });
  actions.append(h("a", { href: `/shows/${encodeURIComponent(show.id)}`, target: "_blank", rel: "noopener" }, "Viewer page"));
  const state = h("span", { class: `lc-badge${show.state === "live" ? " lc-badge--live" : ""}` }, STATE_WORDS[show.state] ?? show.state);
  return h(
    "tr",
    {},
    cells(show.id, show.title, show.creator ? (show.creator_name ?? show.creator) : OWN_SHOW, show.brand, state, when(show.scheduled_at_ms), actions),
  );
}

// --- stock -------------------------------------------------------------------------------

async function openStock(show) {
  stockShow = show;
  $("stock-dialog-title").textContent = `Stock of ${show.id}`;
  for (const form of [$("restock-form"), $("lineup-add-form")]) {
    form.reset();
    report(form.querySelector(".lc-result"), "ok", "");
  }
  $("lineup-add-form").hidden = show.state === "ended";
  openDialog($("stock-dialog"));
  await loadStock();
}

function loadStock() {
  const dialog = $("stock-dialog");
  return perform(dialog.querySelector(".mc-table-wrap"), $("stock-result"), async () => {
    const path = `/api/shows/${encodeURIComponent(stockShow.id)}/stock`;
    const [{ stock }, products] = await Promise.all([call(path), lists.products(stockShow.brand)]);
    const names = new Map(sellableGroups(products).flatMap(({ items }) => items.map((i) => [i.sku, i.name])));
    $("stock-body").replaceChildren(
      ...stock.map((s) => h("tr", {}, cells(s.sku, names.get(s.sku), s.allocated, s.stock, s.held, s.sold))),
    );
    const inLineup = new Set(stock.map((s) => s.sku));
    const label = (s) => (names.has(s.sku) ? `${names.get(s.sku)} (${s.sku})` : s.sku);
    lists.fillSelect($("restock-sku"), stock, { value: (s) => s.sku, label });
    fillSellables($("lineup-add-sku"), products, inLineup);
    const sold = stock.reduce((sum, s) => sum + s.sold, 0);
    return `${stock.length} products, ${sold} units sold.`;
  }, "Loading stock…");
}

async function restock(form) {
  const text = form.elements.delta.value.trim();
  if (!/^-?\d{1,7}$/.test(text) || Number(text) === 0) {
    throw new FieldError("delta", "Write a whole number of units other than 0 (negative withdraws)");
  }
  const sku = form.elements.sku.value;
  if (!sku) throw new FieldError("sku", "This show has no products yet");
  const path = `/api/shows/${encodeURIComponent(stockShow.id)}/stock/${encodeURIComponent(sku)}`;
  const answer = await call(path, { method: "POST", body: { delta: Number(text) } });
  await loadStock();
  return `${sku}: ${answer.stock} available of ${answer.allocated} allocated.`;
}

async function addToLineup(form) {
  const sku = form.elements.sku.value;
  if (!sku) throw new FieldError("sku", "Every product of this brand is in the lineup already");
  const quantity = wholeUnits(form.elements.quantity.value, "quantity");
  await call(`/api/shows/${encodeURIComponent(stockShow.id)}/lineup`, {
    method: "POST",
    body: { sku, quantity },
  });
  await loadStock();
  return `${sku} added with ${quantity} units.`;
}
