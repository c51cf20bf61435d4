// Catalog: brands (list, create, rename), a brand's products (list, create, edit) and
// the bulk import with every rejected row shown with its reason.

import { call, upload } from "./key.js";
import * as lists from "./lists.js";
import { h, money } from "../format.js";
import { majorText, parseMajor, parsePercent, percent } from "./units.js";
import { FieldError, cells, onSubmit, openDialog, pager, perform, report } from "./ui.js";

const $ = (id) => document.getElementById(id);

let brandPager;
let productPager;
let editing = null; // the SKU being edited in the product dialog; null when creating

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
    columns: 6,
    emptyText: "No products in this brand yet.",
    load: (after) => call("/api/products", { query: { brand: $("products-brand").value, after } }),
    row: productRow,
  });
  onSubmit($("brand-form"), createBrand);
  onSubmit($("brand-rename-form"), renameBrand);
  onSubmit($("product-form"), saveProduct);
  onSubmit($("import-form"), importFile, "Importing…");
  $("products-brand").addEventListener("change", () => productPager.reload());
  $("product-new").addEventListener("click", () => openProduct(null));
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
  const products = h("button", { type: "button", class: "lc-button lc-button--small" }, "Products");
  products.addEventListener("click", () => {
    $("products-brand").value = brand.id;
    productPager.reload();
    $("products-title").scrollIntoView({ block: "start" });
  });
  return h("tr", {}, cells(brand.id, brand.name, h("span", { class: "mc-actions" }, products, rename)));
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

// --- products ------------------------------------------------------------------------

function productRow(product) {
  const edit = h("button", { type: "button", class: "lc-button lc-button--small" }, "Edit");
  edit.addEventListener("click", () => openProduct(product));
  return h(
    "tr",
    {},
    cells(
      product.sku,
      product.title,
      money(product.price, product.currency),
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
  report(form.querySelector(".lc-result"), "ok", "");
  openDialog($("product-dialog"));
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
  return `Saved ${saved.sku} at ${money(saved.price, saved.currency)}.`;
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
