// The show's lineup as the streamer runs it: one row per product with its price (the
// flash price while a flash sale of it runs), units left of those allocated, units sold
// in the show, and Pin / Unpin. A product sold by variants is pinned whole: its row
// sums its variants, and a small row per variant under it ("S / Red") shows each one's
// price, units left and sold. Rows are kept across renders, so focus stays on the
// button that was pressed; the outcome of each tap is said under the table.

import { h, money } from "../format.js";
import { offer } from "../pricing.js";
import { lineupProducts, sellablesOf, variantLabel } from "../product-card.js";
import { perform } from "../staff.js";

export function mountLineupTable(section, { hub, tally }) {
  const body = section.querySelector("tbody");
  const result = section.querySelector("#pin-result");
  const rows = new Map(); // sku -> {tr, cells..., button}
  const role = () => hub.state.you.role;

  function makeVariantRow(sku) {
    const title = h("span", { class: "studio-variant__label" });
    const price = h("td", { class: "studio-num" });
    const left = h("td", { class: "studio-num" });
    const sold = h("td", { class: "studio-num" });
    const tr = h(
      "tr",
      { "data-sku": sku, class: "studio-variant" },
      h("th", { scope: "row", class: "studio-product studio-variant__name" }, title),
      price,
      left,
      sold,
      h("td", { class: "studio-action" }),
    );
    return { tr, title, price, left, sold };
  }

  /** Price, units left (of allocated) and units sold of one sellable into a row. */
  function fillFigures(row, product, flash, now) {
    const current = offer(product, flash, now);
    row.price.textContent =
      current.phase === "running" ? `${money(current.price, product.currency)} flash` : money(product.price, product.currency);
    // "of N" gives way on a phone's narrow table; the units left always show.
    row.left.replaceChildren(
      String(product.stock),
      product.allocated ? h("span", { class: "studio-of", text: ` of ${product.allocated}` }) : "",
    );
    row.left.classList.toggle("lc-danger", product.stock <= 0);
    const sold = tally.sold.get(product.sku);
    row.sold.textContent = sold === undefined ? "—" : String(sold);
  }

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
    const product = sellablesOf(hub, sku)[0];
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
    const wanted = [];
    for (const sku of lineupProducts(hub)) {
      const units = sellablesOf(hub, sku);
      if (!units.length) continue;
      let row = rows.get(sku);
      if (!row) {
        row = makeRow(sku);
        rows.set(sku, row);
      }
      const product = units[0];
      const grouped = product.sku !== sku; // sold by variants
      const pinned = state.show?.pinned === sku;
      row.title.textContent = product.title;
      row.badge.hidden = !pinned;
      row.tr.classList.toggle("is-pinned", pinned);
      if (grouped) {
        const prices = units.map((u) => u.price);
        const low = Math.min(...prices);
        row.price.textContent = Math.max(...prices) > low ? `from ${money(low, product.currency)}` : money(low, product.currency);
        const stock = units.reduce((sum, u) => sum + u.stock, 0);
        const allocated = units.reduce((sum, u) => sum + (u.allocated ?? 0), 0);
        row.left.replaceChildren(String(stock), allocated ? h("span", { class: "studio-of", text: ` of ${allocated}` }) : "");
        row.left.classList.toggle("lc-danger", stock <= 0);
        const solds = units.map((u) => tally.sold.get(u.sku)).filter((n) => n !== undefined);
        row.sold.textContent = solds.length ? String(solds.reduce((a, b) => a + b, 0)) : "—";
      } else {
        fillFigures(row, product, flash, now);
      }
      if (row.button.getAttribute("aria-busy") !== "true") {
        row.button.textContent = pinned ? "Unpin" : "Pin";
        row.button.disabled = state.show?.state === "ended";
      }
      row.button.setAttribute("aria-label", `${pinned ? "Unpin" : "Pin"} ${product.title}`);
      wanted.push(row.tr);
      if (!grouped) continue;
      for (const unit of units) {
        const key = `variant:${unit.sku}`;
        let sub = rows.get(key);
        if (!sub) {
          sub = makeVariantRow(unit.sku);
          rows.set(key, sub);
        }
        sub.title.textContent = variantLabel(unit.variant, unit.options);
        fillFigures(sub, unit, flash, now);
        wanted.push(sub.tr);
      }
    }
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
