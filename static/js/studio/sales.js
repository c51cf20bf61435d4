// What the studio knows about sales, from the hub's `sold` events: per product, the
// units sold in the whole show (each `sold` event carries that total); and, since this
// page opened, the orders (each `sold` event names its order: one per line), units and
// revenue per currency (each line's `unit_price` and `currency`, as the order has them).
//
// A staff token cannot read the show's order list or stock report (those need the
// merchant's API key), so nothing earlier than the page is counted, and the page says
// so. An event from before `unit_price` was sent is priced the way the buy script
// prices: the show price, or the flash price while a flash sale of it was on.

import { idMs } from "../hub-client.js";

export function createSalesTally(hub) {
  const tally = {
    orders: new Set(), // order ids seen since the page opened
    units: 0,
    revenue: new Map(), // currency -> minor units
    sold: new Map(), // sku -> units sold in the show, from the newest `sold` event
    openedAtMs: null, // Redis' clock when the first hello came
    gaps: 0, // fresh snapshots after the first: sales made meanwhile may be missing
  };
  const flashes = new Map(); // id -> {sku, price, starts_ms, until}

  function rememberFlash(sale) {
    if (sale?.id && !flashes.has(sale.id)) flashes.set(sale.id, { ...sale, until: sale.ends_ms });
  }

  function unitPrice(sku, product, atMs) {
    for (const sale of flashes.values()) {
      if (sale.sku === sku && sale.starts_ms <= atMs && atMs < sale.until) return sale.price;
    }
    return product.price;
  }

  hub.subscribe((change, state) => {
    if (change.kind === "reset") {
      if (tally.openedAtMs === null) tally.openedAtMs = hub.serverNow();
      else tally.gaps += 1;
      rememberFlash(state.show?.flash_sale);
      return;
    }
    if (change.kind !== "event") return;
    const { type, data, id } = change.event;
    if (type === "flash_started") rememberFlash(data);
    if (type === "flash_ended") {
      const sale = flashes.get(data.id);
      if (sale) sale.until = Math.min(sale.until, idMs(id));
    }
    if (type === "sold") {
      tally.sold.set(data.sku, data.sold);
      tally.orders.add(data.order ?? id);
      tally.units += data.quantity;
      const product = hub.product(data.sku);
      const currency = data.currency ?? product?.currency;
      const unit = data.unit_price ?? (product ? unitPrice(data.sku, product, idMs(id)) : null);
      if (currency && unit !== null) {
        tally.revenue.set(currency, (tally.revenue.get(currency) ?? 0) + unit * data.quantity);
      }
    }
  });
  return tally;
}
