// A product as a buyer sees it: image, title, price (the flash price while a flash sale
// runs), "N left" or sold out, a one-tap Buy and Add to cart, and each action's outcome
// in words right under the buttons. `productView` is one product; `mountProductCard`
// is the card pinned over the video, following the show's pin.

import { h, money, showResult } from "./format.js";
import { offer } from "./pricing.js";

export const PLACEHOLDER_IMAGE = "/static/img/product.svg";
const FLASH_REFRESH_MS = 250;

/** One product's view, kept across renders so a pending tap or an outcome stays put. */
export function productView(sku, { hub, actions, headingLevel = "h2", className = "product" }) {
  const image = h("img", { class: `${className}__image`, alt: "", width: 96, height: 96, loading: "lazy" });
  image.addEventListener("error", () => {
    if (!image.src.endsWith(PLACEHOLDER_IMAGE)) image.src = PLACEHOLDER_IMAGE;
  });
  const title = h(headingLevel, { class: `${className}__title` });
  const price = h("span", { class: `${className}__price` });
  const was = h("s", { class: `${className}__was lc-muted` });
  const stock = h("span", { class: `${className}__stock` });
  const buy = h("button", { class: "lc-button lc-button--primary buy", type: "button", text: "Buy" });
  const add = h("button", { class: "lc-button add", type: "button", text: "Add to cart" });
  const result = h("p", { class: `lc-result ${className}__result`, role: "status" });
  const el = h(
    "article",
    { class: className, "data-sku": sku },
    image,
    h(
      "div",
      { class: `${className}__info` },
      title,
      h("p", { class: `${className}__prices` }, price, " ", was),
      h("p", { class: `${className}__stock-line` }, stock),
    ),
    h("div", { class: `${className}__actions` }, buy, add),
    result,
  );
  let busy = false;

  async function act(run, pendingText) {
    const product = hub.product(sku);
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
    const product = hub.product(sku);
    if (!product) return;
    const flash = hub.state.show?.flash_sale;
    const now = offer(product, flash, serverNow);
    const imageUrl = product.image_url || PLACEHOLDER_IMAGE;
    if (image.dataset.url !== imageUrl) {
      image.dataset.url = imageUrl;
      image.src = imageUrl;
    }
    title.textContent = product.title;
    price.textContent = money(now.price, product.currency);
    price.classList.toggle("is-flash", now.phase === "running");
    was.textContent = now.was === null ? "" : money(now.was, product.currency);
    was.hidden = now.was === null;
    const soldOut = product.stock <= 0;
    stock.textContent = soldOut ? "Sold out" : `${product.stock} left`;
    stock.classList.toggle("is-sold-out", soldOut);
    if (!busy) {
      buy.disabled = soldOut;
      add.disabled = soldOut;
      buy.textContent = soldOut ? "Sold out" : "Buy";
    }
    buy.setAttribute("aria-label", soldOut ? `${product.title}: sold out` : `Buy ${product.title}, ${price.textContent}`);
    add.setAttribute("aria-label", `Add ${product.title} to your cart`);
  }

  update();
  return { el, update, sku };
}

/** The pinned product over the video; hidden while nothing is pinned. */
export function mountProductCard(section, { hub, actions }) {
  const views = new Map(); // sku -> view: an outcome stays with its product across pins
  let timer = null;

  function render() {
    const sku = hub.state.show?.pinned ?? null;
    const product = hub.product(sku);
    section.hidden = !product;
    if (!product) {
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
    const timed = flash && flash.sku === sku && serverNow < flash.ends_ms;
    if (timed && !timer) timer = setInterval(render, FLASH_REFRESH_MS);
    if (!timed && timer) {
      clearInterval(timer);
      timer = null;
    }
  }

  hub.subscribe(render);
  render();
}
