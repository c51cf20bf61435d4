// Catalog: brands (list, create, rename), a brand's products (list, create, edit, with
// their options and variants) and the bulk import with every rejected row shown with
// its reason.

import { call, upload } from "./key.js";
import * as lists from "./lists.js";
import { h, money } from "../format.js";
import { majorText, parseMajor, parsePercent, percent } from "./units.js";
import { FieldError, cells, onSubmit, openDialog, pager, perform, report } from "./ui.js";

const $ = (id) => document.getElementById(id);

let brandPager;
let productPager;
let editing = null; // the SKU being edited in the product dialog; null when creating

const OPTION_SLOTS = 3; // option names a product may have (the API's limit)
const MAX_VARIANTS = 100; // variants a product may have (the API's limit)

export function start() {
  brandPager = pager({
    tbody: $("brands-body"),
    more: $("brands-more"),
    result: $("brands-result"),
    columns: 3,
    emptyText: "No brands yet. Create the first one below.",
    load: (after) => call("/api/brands", { query: { after } }),
    row: brandRow,
  });
  productPager = pager({
    tbody: $("products-body"),
    more: $("products-more"),
    result: $("products-result"),
    columns: 7,
    emptyText: "No products in this brand yet.",
    load: (after) => call("/api/products", { query: { brand: $("products-brand").value, after } }),
    row: productRow,
  });
  onSubmit($("brand-form"), createBrand);
  onSubmit($("brand-rename-form"), renameBrand);
  onSubmit($("shipping-form"), saveShipping);
  onSubmit($("product-form"), saveProduct);
  onSubmit($("import-form"), importFile, "Importing…");
  $("products-brand").addEventListener("change", () => productPager.reload());
  $("product-new").addEventListener("click", () => openProduct(null));
  for (let k = 0; k < OPTION_SLOTS; k += 1) {
    // The table's columns follow the option names as they are typed; focus stays in
    // the name's input, outside the table that is drawn again.
    $(`product-option-${k}`).addEventListener("input", () => renderVariants(readVariants()));
  }
  $("variant-add").addEventListener("click", () => {
    renderVariants([...readVariants(), { values: [], sku: "", price: "", image_url: "" }]);
    $("variants-body").querySelector("tr:last-child input")?.focus();
  });
  const productForm = $("product-form");
  $("variants-generate").addEventListener("click", () =>
    perform(productForm, productForm.querySelector(".lc-result"), async () => makeEveryCombination(), "Making the variants…"),
  );
  lists.whenChanged("brands", refreshBrands);
  lists.whenChanged("products", () => $("products-brand").value && productPager.reload());
  refreshBrands();
}

export function reopen() {
  refreshBrands();
}

async function refreshBrands() {
  await brandPager.reload();
  await perform($("products-filter"), $("products-result"), async () => {
    const all = await lists.brands();
    const label = (b) => `${b.name} (${b.id})`;
    lists.fillSelect($("products-brand"), all, { value: (b) => b.id, label });
    lists.fillSelect($("product-brand"), all, { value: (b) => b.id, label });
    $("product-new").disabled = all.length === 0;
    if (all.length) await productPager.load();
    else $("products-body").replaceChildren();
    return "";
  }, "Loading products…");
}

function brandRow(brand) {
  const rename = h("button", { type: "button", class: "lc-button lc-button--small" }, "Rename");
  rename.addEventListener("click", () => {
    const form = $("brand-rename-form");
    form.dataset.brand = brand.id;
    form.elements.name.value = brand.name;
    report(form.querySelector(".lc-result"), "ok", "");
    $("brand-dialog-title").textContent = `Rename ${brand.id}`;
    openDialog($("brand-dialog"));
  });
  const shipping = h("button", { type: "button", class: "lc-button lc-button--small" }, "Shipping");
  shipping.addEventListener("click", () => openShipping(brand));
  const products = h("button", { type: "button", class: "lc-button lc-button--small" }, "Products");
  products.addEventListener("click", () => {
    $("products-brand").value = brand.id;
    productPager.reload();
    $("products-title").scrollIntoView({ block: "start" });
  });
  return h("tr", {}, cells(brand.id, brand.name, h("span", { class: "mc-actions" }, products, shipping, rename)));
}

async function createBrand(form) {
  const body = { id: form.elements.id.value.trim(), name: form.elements.name.value.trim() };
  const brand = await call("/api/brands", { method: "POST", body });
  form.reset();
  lists.announce("brands");
  return `Brand ${brand.id} created.`;
}

async function renameBrand(form) {
  const brand = form.dataset.brand;
  await call(`/api/brands/${encodeURIComponent(brand)}`, {
    method: "PUT",
    body: { name: form.elements.name.value.trim() },
  });
  lists.announce("brands");
  return `Renamed. ${brand} is now “${form.elements.name.value.trim()}”.`;
}

// --- shipping ------------------------------------------------------------------------

/**
 * The brand's shipping rule in its products' currency: the API keeps minor units of
 * whatever currency an order is in, so the console converts with the currency of the
 * brand's first product (EUR for a brand with none yet).
 */
async function openShipping(brand) {
  const form = $("shipping-form");
  const [rule, first] = await Promise.all([
    call(`/api/brands/${encodeURIComponent(brand.id)}/shipping`),
    call("/api/products", { query: { brand: brand.id, limit: 1 } }),
  ]);
  const currency = first.items[0]?.currency ?? "EUR";
  form.dataset.brand = brand.id;
  form.dataset.currency = currency;
  for (const span of form.querySelectorAll("[data-currency]")) span.textContent = currency;
  form.elements.flat.value = majorText(rule.flat, currency);
  form.elements.free_over.value = rule.free_over === null ? "" : majorText(rule.free_over, currency);
  report(form.querySelector(".lc-result"), "ok", "");
  $("shipping-dialog-title").textContent = `Shipping for ${brand.name}`;
  openDialog($("shipping-dialog"));
}

async function saveShipping(form) {
  const currency = form.dataset.currency;
  const flat = parseMajor(form.elements.flat.value, currency);
  if (flat.error) throw new FieldError("flat", flat.error);
  const body = { flat: flat.value };
  if (form.elements.free_over.value.trim()) {
    const over = parseMajor(form.elements.free_over.value, currency);
    if (over.error) throw new FieldError("free_over", over.error);
    body.free_over = over.value;
  }
  const rule = await call(`/api/brands/${encodeURIComponent(form.dataset.brand)}/shipping`, {
    method: "PUT",
    body,
  });
  const fee = rule.flat ? money(rule.flat, currency) : "free";
  const over = rule.free_over === null ? "" : `, free from ${money(rule.free_over, currency)}`;
  return `Saved: shipping ${fee} per order${over}.`;
}

// --- products ------------------------------------------------------------------------

/** The product's price, or the span of its variants' prices ("€25.00–€27.00"). */
function priceText(product) {
  const prices = (product.variants ?? []).map((v) => v.price ?? product.price);
  if (!prices.length) return money(product.price, product.currency);
  const [low, high] = [Math.min(...prices), Math.max(...prices)];
  if (low === high) return money(low, product.currency);
  return `${money(low, product.currency)}–${money(high, product.currency)}`;
}

function variantCount(product) {
  const n = product.variants?.length ?? 0;
  return n ? `${n} ${n === 1 ? "variant" : "variants"}` : null;
}

function productRow(product) {
  const edit = h("button", { type: "button", class: "lc-button lc-button--small" }, "Edit");
  edit.addEventListener("click", () => openProduct(product));
  return h(
    "tr",
    {},
    cells(
      product.sku,
      product.title,
      priceText(product),
      variantCount(product),
      percent(product.commission_bps),
      product.per_user_limit ? String(product.per_user_limit) : "No limit",
      edit,
    ),
  );
}

function openProduct(product) {
  const form = $("product-form");
  form.reset();
  editing = product?.sku ?? null;
  $("product-dialog-title").textContent = product ? `Edit ${product.sku}` : "New product";
  form.elements.sku.readOnly = Boolean(product);
  form.elements.brand.value = product?.brand ?? $("products-brand").value;
  if (product) {
    form.elements.sku.value = product.sku;
    form.elements.title.value = product.title;
    form.elements.price.value = majorText(product.price, product.currency);
    form.elements.currency.value = product.currency;
    form.elements.commission_bps.value = String(product.commission_bps / 100);
    form.elements.per_user_limit.value = String(product.per_user_limit);
    form.elements.image_url.value = product.image_url;
    form.elements.description.value = product.description;
  }
  const options = product?.options ?? [];
  const variants = product?.variants ?? [];
  options.forEach((name, k) => {
    $(`product-option-${k}`).value = name;
    // Each option's values as they appear in the variants, for "Make every combination".
    $(`product-option-values-${k}`).value = [...new Set(variants.map((v) => v.values[k]))].join(", ");
  });
  renderVariants(
    variants.map((v) => ({
      values: v.values,
      sku: v.sku,
      price: v.price === null || v.price === undefined ? "" : majorText(v.price, product.currency),
      image_url: v.image_url ?? "",
    })),
  );
  report(form.querySelector(".lc-result"), "ok", "");
  openDialog($("product-dialog"));
}

// --- options and variants ---------------------------------------------------------------

/** The option names as typed, up to the last one filled in (a gap stays as ""). */
function typedOptions() {
  const names = [];
  for (let k = 0; k < OPTION_SLOTS; k += 1) names.push($(`product-option-${k}`).value.trim());
  while (names.length && !names[names.length - 1]) names.pop();
  return names;
}

/** The variants table's rows as typed: values per option, sku, price text, image URL. */
function readVariants() {
  return [...$("variants-body").querySelectorAll("tr[data-variant]")].map((row) => ({
    values: [...row.querySelectorAll("[data-part='value']")].map((input) => input.value),
    sku: row.querySelector("[data-part='sku']").value,
    price: row.querySelector("[data-part='price']").value,
    image_url: row.querySelector("[data-part='image_url']").value,
  }));
}

/** Draw the variants table for the options typed: a column per option, then SKU, price
 * and image. Inputs are named by the API's paths (`variants[2].sku`), so a refusal from
 * the server lands on the input it is about. */
function renderVariants(variants) {
  const names = typedOptions();
  $("variants-area").hidden = names.length === 0;
  const optionLabel = (k) => names[k] || `Option ${k + 1}`;
  $("variants-head").replaceChildren(
    ...names.map((_, k) => h("th", { scope: "col" }, optionLabel(k))),
    h("th", { scope: "col" }, "SKU"),
    h("th", { scope: "col" }, "Price"),
    h("th", { scope: "col" }, "Image URL"),
    h("th", { scope: "col" }, h("span", { class: "lc-sr-only" }, "Actions")),
  );
  const body = $("variants-body");
  if (!variants.length) {
    body.replaceChildren(
      h("tr", {}, h("td", { colspan: names.length + 4, class: "lc-muted" }, "No variants yet: add one, or write each option's values above and make every combination.")),
    );
    return;
  }
  body.replaceChildren(...variants.map((variant, i) => variantRow(variant, i, names.length, optionLabel)));
}

function variantRow(variant, i, count, optionLabel) {
  const labelled = (input, text) => {
    input.id = `variant-${i}-${input.dataset.part}${input.dataset.index ?? ""}`;
    return h("td", {}, h("label", { for: input.id, class: "lc-sr-only" }, `${text}, variant ${i + 1}`), input);
  };
  const input = (part, name, value, extra = {}) =>
    h("input", { class: "lc-input", name, value, autocomplete: "off", spellcheck: "false", "data-part": part, ...extra });
  const values = [];
  for (let k = 0; k < count; k += 1) {
    const field = input("value", `variants[${i}].values[${k}]`, variant.values[k] ?? "", { "data-index": k, maxlength: 40 });
    values.push(labelled(field, optionLabel(k)));
  }
  const remove = h("button", { type: "button", class: "lc-button lc-button--small" }, "Remove", h("span", { class: "lc-sr-only" }, ` variant ${i + 1}`));
  remove.addEventListener("click", () => {
    const rows = readVariants();
    rows.splice(i, 1);
    renderVariants(rows);
  });
  return h(
    "tr",
    { "data-variant": "" },
    values,
    labelled(input("sku", `variants[${i}].sku`, variant.sku, { class: "lc-input mc-variant-sku" }), "SKU"),
    labelled(input("price", `variants[${i}].price`, variant.price, { inputmode: "decimal", placeholder: "Product's" }), "Price"),
    labelled(input("image_url", `variants[${i}].image_url`, variant.image_url, { class: "lc-input mc-variant-image", type: "url", inputmode: "url" }), "Image URL"),
    h("td", {}, remove),
  );
}

/** "S, M, L" -> ["S", "M", "L"]: each value once, empty ones left out. */
function splitValues(text) {
  return [...new Set(text.split(",").map((v) => v.trim()).filter(Boolean))];
}

/** A SKU made from the product's and the values ("tee", ["S", "Red"] -> "tee-s-red"),
 * in the characters an id may have. The merchant may change it before saving. */
function variantSku(productSku, values) {
  return [productSku, ...values]
    .join("-")
    .toLowerCase()
    .replace(/[^a-z0-9_.@+-]+/g, "-")
    .replace(/-{2,}/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, 64);
}

/** Fill the table with every combination of the options' values. A combination that
 * has a row already keeps it as it is (its SKU, price and image); the others get a
 * SKU made from the product's. */
function makeEveryCombination() {
  const names = typedOptions();
  const gap = names.indexOf("");
  if (gap >= 0) throw new FieldError(`options[${gap}]`, `Name option ${gap + 1}, or clear the ones after it`);
  const lists = names.map((_, k) => splitValues($(`product-option-values-${k}`).value));
  const empty = lists.findIndex((values) => values.length === 0);
  if (empty >= 0) throw new FieldError(`option_values[${empty}]`, `Write the values of ${names[empty]}, separated by commas`);
  const total = lists.reduce((n, values) => n * values.length, 1);
  if (total > MAX_VARIANTS) {
    throw new FieldError(`option_values[0]`, `That makes ${total} variants; a product has at most ${MAX_VARIANTS}`);
  }
  const productSku = $("product-sku").value.trim();
  if (!productSku) throw new FieldError("sku", "Write the product's SKU first: the variants' SKUs are made from it");
  const kept = new Map(readVariants().map((v) => [JSON.stringify(v.values.slice(0, names.length)), v]));
  let combinations = [[]];
  for (const values of lists) combinations = combinations.flatMap((c) => values.map((value) => [...c, value]));
  let reused = 0;
  const rows = combinations.map((values) => {
    const old = kept.get(JSON.stringify(values));
    if (old) reused += 1;
    return old ?? { values, sku: variantSku(productSku, values), price: "", image_url: "" };
  });
  renderVariants(rows);
  const made = `${rows.length} ${rows.length === 1 ? "variant" : "variants"}`;
  return reused ? `${made}, ${reused} of them kept as they were. Save the product to keep them.` : `${made} made. Save the product to keep them.`;
}

/** The options and variants from the form, in the API's shape. A product whose option
 * names are all empty is sold as one item: its variant rows (hidden) are not sent. */
function optionsBody(currency) {
  const options = typedOptions();
  const gap = options.indexOf("");
  if (gap >= 0) throw new FieldError(`options[${gap}]`, `Name option ${gap + 1}, or clear the ones after it`);
  if (!options.length) return { options: [], variants: [] };
  const variants = readVariants().map((row, i) => {
    const variant = { sku: row.sku.trim(), values: row.values.map((v) => v.trim()) };
    if (row.price.trim()) {
      const price = parseMajor(row.price, currency);
      if (price.error) throw new FieldError(`variants[${i}].price`, price.error);
      variant.price = price.value;
    }
    if (row.image_url.trim()) variant.image_url = row.image_url.trim();
    return variant;
  });
  return { options, variants };
}

/** The product card from the form, in the API's units; a FieldError for what the page
 * can tell is wrong before asking (the server checks everything again). */
function productBody(form) {
  const f = form.elements;
  const currency = f.currency.value.trim().toUpperCase();
  if (!/^[A-Z]{3}$/.test(currency)) {
    throw new FieldError("currency", "Write the currency as its three-letter code, such as EUR");
  }
  const price = parseMajor(f.price.value, currency);
  if (price.error) throw new FieldError("price", price.error);
  const commission = f.commission_bps.value.trim() ? parsePercent(f.commission_bps.value) : { value: 0 };
  if (commission.error) throw new FieldError("commission_bps", commission.error);
  const limitText = f.per_user_limit.value.trim() || "0";
  if (!/^\d{1,6}$/.test(limitText)) {
    throw new FieldError("per_user_limit", "Write a whole number of units (0 for no limit)");
  }
  return {
    sku: f.sku.value.trim(),
    brand: f.brand.value,
    title: f.title.value.trim(),
    price: price.value,
    currency,
    description: f.description.value,
    image_url: f.image_url.value.trim(),
    commission_bps: commission.value,
    per_user_limit: Number(limitText),
    ...optionsBody(currency),
  };
}

async function saveProduct(form) {
  const body = productBody(form);
  const saved = editing
    ? await call(`/api/products/${encodeURIComponent(editing)}`, { method: "PUT", body })
    : await call("/api/products", { method: "POST", body });
  if (!editing) {
    editing = saved.sku;
    form.elements.sku.readOnly = true;
    $("product-dialog-title").textContent = `Edit ${saved.sku}`;
  }
  $("products-brand").value = saved.brand;
  lists.announce("products");
  const variants = variantCount(saved);
  return `Saved ${saved.sku} at ${priceText(saved)}${variants ? `, in ${variants}` : ""}.`;
}

// --- import ----------------------------------------------------------------------------

/** What the pasted or chosen file is: JSON when it starts with `[` or is named .json. */
function formatOf(text, name) {
  if (/\.json$/i.test(name || "") || /^\s*\[/.test(text)) return "application/json";
  return "text/csv; charset=utf-8";
}

async function importFile(form) {
  const file = form.elements.file.files[0];
  // A file goes as its bytes, so the server (not the browser) judges its encoding.
  const body = file ? await file.arrayBuffer() : form.elements.text.value;
  const start = file ? new TextDecoder().decode(body.slice(0, 64)) : body;
  if (file ? body.byteLength === 0 : !body.trim()) {
    throw new FieldError("file", "Choose a CSV or JSON file, or paste its text");
  }
  const answer = await upload("/api/catalog/import", body, formatOf(start, file?.name));
  showRejected(answer.rejected);
  lists.announce("products");
  const imported = `${answer.imported} ${answer.imported === 1 ? "product" : "products"} imported`;
  const rejected = answer.rejected.length;
  if (!rejected) return `${imported}.`;
  return `${imported}; ${rejected} ${rejected === 1 ? "row was" : "rows were"} not imported (below).`;
}

function showRejected(rows) {
  $("import-rejected").hidden = rows.length === 0;
  $("import-rejected-body").replaceChildren(
    ...rows.map((r) => h("tr", {}, cells(String(r.row), r.sku ?? "—", r.field ?? "—", r.message))),
  );
}
