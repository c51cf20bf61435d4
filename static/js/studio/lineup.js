// The show's lineup as the streamer runs it: one row per product with its price (the
// flash price while a flash sale of it runs), units left of those allocated, units sold
// in the show, and Pin / Unpin. Rows are kept across renders, so focus stays on the
// button that was pressed; the outcome of each tap is said under the table.

import { h, money } from "../format.js";
import { offer } from "../pricing.js";
import { perform } from "../staff.js";

export function mountLineupTable(section, { hub, tally }) {
  const body = section.querySelector("tbody");
  const result = section.querySelector("#pin-result");
  const rows = new Map(); // sku -> {tr, cells..., button}
  const role = () => hub.state.you.role;

  function makeRow(sku) {
    const title = h("span", { class: "studio-product__title" });
    const badge = h("span", { class: "lc-badge lc-badge--live studio-product__pinned", text: "Pinned" });
    const price = h("td", { class: "studio-num" });
    const left = h("td", { class: "studio-num" });
    const sold = h("td", { class: "studio-num" });
    const button = h("button", { type: "button", class: "lc-button lc-button--small studio-pin" });
    button.addEventListener("click", () => togglePin(sku, button));
    const tr = h(
      "tr",
      { "data-sku": sku },
      h("th", { scope: "row", class: "studio-product" }, title, " ", badge),
      price,
      left,
      sold,
      h("td", { class: "studio-action" }, button),
    );
    return { tr, title, badge, price, left, sold, button };
  }

  async function togglePin(sku, button) {
    const product = hub.product(sku);
    if (!product) return;
    const pinned = hub.state.show?.pinned === sku;
    await perform(
      button,
      result,
      pinned ? `Unpinning ${product.title}…` : `Pinning ${product.title}…`,
      async () => {
        const reply = pinned ? await hub.request("unpin") : await hub.request("pin", { sku });
        if (pinned) return reply.changed ? `Unpinned ${product.title} ✓` : "Nothing was pinned";
        return reply.changed ? `Pinned ${product.title} ✓` : `${product.title} was already pinned`;
      },
      role,
    );
    render();
  }

  function render() {
    const state = hub.state;
    const flash = state.show?.flash_sale ?? null;
    const now = hub.serverNow();
    const skus = [...state.lineup.keys()];
    for (const sku of skus) {
      let row = rows.get(sku);
      if (!row) {
        row = makeRow(sku);
        rows.set(sku, row);
      }
      const product = state.lineup.get(sku);
      const pinned = state.show?.pinned === sku;
      const current = offer(product, flash, now);
      row.title.textContent = product.title;
      row.badge.hidden = !pinned;
      row.tr.classList.toggle("is-pinned", pinned);
      row.price.textContent =
        current.phase === "running" ? `${money(current.price, product.currency)} flash` : money(product.price, product.currency);
      // "of N" gives way on a phone's narrow table; the units left always show.
      row.left.replaceChildren(
        String(product.stock),
        product.allocated ? h("span", { class: "studio-of", text: ` of ${product.allocated}` }) : "",
      );
      row.left.classList.toggle("lc-danger", product.stock <= 0);
      const sold = tally.sold.get(sku);
      row.sold.textContent = sold === undefined ? "—" : String(sold);
      if (row.button.getAttribute("aria-busy") !== "true") {
        row.button.textContent = pinned ? "Unpin" : "Pin";
        row.button.disabled = state.show?.state === "ended";
      }
      row.button.setAttribute("aria-label", `${pinned ? "Unpin" : "Pin"} ${product.title}`);
    }
    const wanted = skus.map((sku) => rows.get(sku).tr);
    if (wanted.length !== body.children.length || wanted.some((tr, i) => body.children[i] !== tr)) {
      body.replaceChildren(...wanted);
    }
  }

  hub.subscribe(render);
  render();
  // A flash price starts and stops by the clock, not by an event.
  setInterval(() => {
    if (hub.state.show?.flash_sale) render();
  }, 500);
}
