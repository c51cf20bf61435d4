// A product as a buyer sees it: image, title, price (the flash price while a flash sale
// runs), "N left" or sold out, a one-tap Buy and Add to cart, and each action's outcome
// in words right under the buttons. `productView` is one product; `mountProductCard`
// is the card pinned over the video, following the show's pin.
//
// A product sold by variants (sizes, colours) is one view over its variants' cards in
// the lineup (each with its own live stock): with more than one, a picker of chips per
// option chooses the variant that Buy buys and whose price, image and stock show; a
// sold-out variant can never be chosen. With one variant, or a plain product, one tap
// is one tap.

import { h, money, showResult } from "./format.js";
import { offer } from "./pricing.js";

export const PLACEHOLDER_IMAGE = "/static/img/product.svg";
const FLASH_REFRESH_MS = 250;

/** "S / Red": a variant's option values in the product's option order ("" for none). */
export function variantLabel(variant, options = null) {
  if (!variant) return "";
  const names = options ?? Object.keys(variant);
  return names
    .filter((name) => variant[name] !== undefined)
    .map((name) => variant[name])
    .join(" / ");
}

/** "Tee — S / Red", or the title alone for a plain product. */
export function lineTitle(title, variant, options = null) {
  const label = variantLabel(variant, options);
  return label ? `${title} — ${label}` : title;
}

/** What the show sells of the product `sku` (a lineup key, or a product's SKU whose
 * variants are in the lineup): [its card], or its variants' cards in the product's order. */
export function sellablesOf(hub, sku) {
  if (!sku) return [];
  const own = hub.product(sku);
  if (own && !own.variants) return [own];
  return [...hub.state.lineup.values()]
    .filter((card) => card.product === sku && card.sku !== sku)
    .sort((a, b) => (a.position ?? 0) - (b.position ?? 0) || (a.sku < b.sku ? -1 : 1));
}

/** The products of the lineup, each once: plain SKUs and the SKUs of products sold by
 * variants, in the order the lineup first names them. */
export function lineupProducts(hub) {
  const seen = new Set();
  for (const card of hub.state.lineup.values()) {
    if (card.variants) continue; // a pinned card standing for a product, not a lineup entry
    seen.add(card.product && card.product !== card.sku ? card.product : card.sku);
  }
  return [...seen];
}

/** The option chips of a product with several variants. `choose(sku)` is called with
 * the variant a tap leads to; `update(units, chosen)` redraws for live stock. */
function variantPicker(className, choose) {
  const el = h("div", { class: `${className}__picker variant-picker` });
  let shape = ""; // the options and values drawn: rebuilt only when they change
  let groups = []; // [{name, chips: Map(value -> button)}]

  function build(units) {
    const options = units[0].options ?? Object.keys(units[0].variant ?? {});
    groups = options.map((name) => {
      const values = [];
      for (const unit of units) {
        const value = unit.variant?.[name];
        if (value !== undefined && !values.includes(value)) values.push(value);
      }
      const chips = new Map();
      const row = h("div", { class: "variant-picker__chips", role: "group", "aria-label": name });
      for (const value of values) {
        const chip = h("button", { type: "button", class: "variant-chip", text: value, "data-value": value });
        chip.addEventListener("click", () => pick(name, value));
        chips.set(value, chip);
        row.append(chip);
      }
      return { name, chips, row };
    });
    el.replaceChildren(
      ...groups.map((g) =>
        h("div", { class: "variant-picker__option" }, h("span", { class: "variant-picker__name", text: g.name }), g.row),
      ),
    );
  }

  let current = { units: [], chosen: null };

  /** A tap on `value` of option `name`: the in-stock variant with that value that
   * keeps most of the other values chosen now. */
  function pick(name, value) {
    const { units, chosen } = current;
    const candidates = units.filter((u) => u.variant?.[name] === value && u.stock > 0);
    if (!candidates.length) return;
    const kept = (u) => groups.filter((g) => chosen?.variant?.[g.name] === u.variant?.[g.name]).length;
    candidates.sort((a, b) => kept(b) - kept(a));
    choose(candidates[0].sku);
  }

  function update(units, chosen) {
    current = { units, chosen };
    const drawn = JSON.stringify(units.map((u) => [u.options, u.variant]));
    if (drawn !== shape) {
      shape = drawn;
      build(units);
    }
    for (const g of groups) {
      for (const [value, chip] of g.chips) {
        const withValue = units.filter((u) => u.variant?.[g.name] === value);
        const inStock = withValue.some((u) => u.stock > 0);
        // With the other options as chosen now: is this exact variant there?
        const exact = withValue.find((u) =>
          groups.every((o) => o.name === g.name || u.variant?.[o.name] === chosen?.variant?.[o.name]),
        );
        const selected = chosen?.variant?.[g.name] === value;
        chip.disabled = !inStock;
        chip.classList.toggle("is-sold-out", !inStock || !exact || exact.stock <= 0);
        chip.classList.toggle("is-selected", selected);
        chip.setAttribute("aria-pressed", String(selected));
        chip.setAttribute("aria-label", `${g.name} ${value}${inStock ? "" : ", sold out"}`);
      }
    }
  }

  return { el, update };
}

/** One product's view, kept across renders so a pending tap or an outcome stays put.
 * `sku` is a lineup key or the SKU of a product sold by variants (see sellablesOf). */
export function productView(sku, { hub, actions, headingLevel = "h2", className = "product" }) {
  const image = h("img", { class: `${className}__image`, alt: "", width: 96, height: 96, loading: "lazy" });
  image.addEventListener("error", () => {
    if (!image.src.endsWith(PLACEHOLDER_IMAGE)) image.src = PLACEHOLDER_IMAGE;
  });
  const title = h(headingLevel, { class: `${className}__title` });
  const chosenLine = h("p", { class: `${className}__variant lc-muted` });
  const price = h("span", { class: `${className}__price` });
  const was = h("s", { class: `${className}__was lc-muted` });
  const stock = h("span", { class: `${className}__stock` });
  const shipping = h("span", { class: `${className}__shipping lc-muted` });
  const buy = h("button", { class: "lc-button lc-button--primary buy", type: "button", text: "Buy" });
  const add = h("button", { class: "lc-button add", type: "button", text: "Add to cart" });
  const result = h("p", { class: `lc-result ${className}__result`, role: "status" });
  let chosenSku = null; // the variant chosen in the picker (null: the default one)
  const picker = variantPicker(className, (next) => {
    chosenSku = next;
    update();
  });
  const el = h(
    "article",
    { class: className, "data-sku": sku },
    image,
    h(
      "div",
      { class: `${className}__info` },
      title,
      chosenLine,
      h("p", { class: `${className}__prices` }, price, " ", was),
      h("p", { class: `${className}__stock-line` }, stock, shipping),
    ),
    picker.el,
    h("div", { class: `${className}__actions` }, buy, add),
    result,
  );
  let busy = false;

  /** The sellable that Buy buys now: the one chosen while it is still sold here, else
   * the first in stock, else the first. */
  function chosen() {
    const units = sellablesOf(hub, sku);
    const kept = units.find((u) => u.sku === chosenSku);
    return { units, unit: kept ?? units.find((u) => u.stock > 0) ?? units[0] ?? null };
  }

  async function act(run, pendingText) {
    const { unit: product } = chosen();
    if (busy || !product) return;
    busy = true;
    buy.disabled = add.disabled = true;
    buy.setAttribute("aria-busy", "true");
    showResult(result, "pending", pendingText);
    const { price: shown } = offer(product, hub.state.show?.flash_sale, hub.serverNow());
    const outcome = await run(product, shown);
    busy = false;
    buy.removeAttribute("aria-busy");
    showResult(result, outcome.kind, outcome.text);
    update();
  }

  buy.addEventListener("click", () => act(actions.buy, "Buying…"));
  add.addEventListener("click", () => act(actions.addToCart, "Adding…"));

  /** `serverNow`: the instant to price at; a caller that also decides by the clock
   * passes the same reading, so the two never straddle a flash sale's end. */
  function update(serverNow = hub.serverNow()) {
    const { units, unit: product } = chosen();
    if (!product) return;
    if (chosenSku === null && units.length > 1) chosenSku = product.sku;
    const flash = hub.state.show?.flash_sale;
    const now = offer(product, flash, serverNow);
    const imageUrl = product.image_url || PLACEHOLDER_IMAGE;
    if (image.dataset.url !== imageUrl) {
      image.dataset.url = imageUrl;
      image.src = imageUrl;
    }
    el.dataset.chosen = product.sku;
    title.textContent = product.title;
    const picking = units.length > 1;
    // The variant's values in words when there is nothing to pick (the picker says it).
    const label = picking ? "" : variantLabel(product.variant, product.options);
    chosenLine.textContent = label;
    chosenLine.hidden = !label;
    picker.el.hidden = !picking;
    el.classList.toggle("has-picker", picking);
    if (picking) picker.update(units, product);
    price.textContent = money(now.price, product.currency);
    price.classList.toggle("is-flash", now.phase === "running");
    was.textContent = now.was === null ? "" : money(now.was, product.currency);
    was.hidden = now.was === null;
    shipping.textContent = shippingText(hub.state.show?.shipping, product.currency);
    const soldOut = product.stock <= 0;
    stock.textContent = soldOut ? "Sold out" : `${product.stock} left`;
    stock.classList.toggle("is-sold-out", soldOut);
    if (!busy) {
      buy.disabled = soldOut;
      add.disabled = soldOut;
      buy.textContent = soldOut ? "Sold out" : "Buy";
    }
    const named = lineTitle(product.title, product.variant, product.options);
    buy.setAttribute("aria-label", soldOut ? `${named}: sold out` : `Buy ${named}, ${price.textContent}`);
    add.setAttribute("aria-label", `Add ${named} to your cart`);
  }

  update();
  return { el, update, sku };
}

/**
 * What a tap adds for shipping, in words, before the buyer taps: the brand's rule as the
 * show's snapshot gives it ("+ €4.90 shipping", "free over €50.00"); nothing for a brand
 * that ships free or a show read before the rule was known.
 */
export function shippingText(rule, currency) {
  if (!rule || !rule.flat) return "";
  const over = rule.free_over === null ? "" : `, free over ${money(rule.free_over, currency)}`;
  return ` · + ${money(rule.flat, currency)} shipping${over}`;
}

/** The pinned product over the video; hidden while nothing is pinned. */
export function mountProductCard(section, { hub, actions }) {
  const views = new Map(); // sku -> view: an outcome stays with its product across pins
  let timer = null;

  function render() {
    const sku = hub.state.show?.pinned ?? null;
    const units = sellablesOf(hub, sku);
    section.hidden = !units.length;
    if (!units.length) {
      section.replaceChildren();
      return;
    }
    let view = views.get(sku);
    if (!view) {
      view = productView(sku, { hub, actions, className: "product-card" });
      views.set(sku, view);
    }
    if (section.firstChild !== view.el) section.replaceChildren(view.el);
    // One reading of the clock for the price and for whether to keep ticking: two
    // readings could price a frame before the end and stop ticking after it.
    const serverNow = hub.serverNow();
    view.update(serverNow);
    // While a flash sale of this product is on or coming, its price flips by the clock.
    const flash = hub.state.show?.flash_sale;
    const timed = flash && units.some((u) => u.sku === flash.sku) && serverNow < flash.ends_ms;
    if (timed && !timer) timer = setInterval(render, FLASH_REFRESH_MS);
    if (!timed && timer) {
      clearInterval(timer);
      timer = null;
    }
  }

  hub.subscribe(render);
  render();
}
