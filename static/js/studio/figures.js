// The live figures over the lineup: viewers now, and the orders, units and revenue this
// page has seen since it opened (the tally in sales.js says why only since then).

import { money, timeOfDay } from "../format.js";

/** The currency most of the lineup is priced in. */
function mainCurrency(lineup) {
  const counts = new Map();
  for (const product of lineup.values()) counts.set(product.currency, (counts.get(product.currency) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
}

export function mountFigures(section, { hub, tally }) {
  const $ = (selector) => section.querySelector(selector);
  const viewers = $("#figure-viewers");
  const orders = $("#figure-orders");
  const units = $("#figure-units");
  const revenue = $("#figure-revenue");
  const note = $("#figures-note");

  function render() {
    viewers.textContent = String(hub.state.viewers);
    orders.textContent = String(tally.orders.size);
    units.textContent = String(tally.units);
    const amounts = [...tally.revenue].filter(([, minor]) => minor > 0);
    if (amounts.length) {
      revenue.textContent = amounts.map(([currency, minor]) => money(minor, currency)).join(" + ");
    } else {
      revenue.textContent = money(0, mainCurrency(hub.state.lineup) ?? "EUR");
    }
    if (tally.openedAtMs === null) {
      note.textContent = "";
      return;
    }
    const since = timeOfDay(tally.openedAtMs, hub.state.clockOffsetMs);
    let words = `Orders, units and revenue since this page opened at ${since}.`;
    if (tally.gaps) words += " The connection was restored from a fresh start, so orders made while it was down are not counted.";
    note.textContent = words;
  }

  hub.subscribe(render);
  render();
}
