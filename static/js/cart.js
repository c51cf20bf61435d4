// The buyer's cart in this show: held units, their total, checkout. The cart lives on
// the server (its units are held there); this part shows the last cart a reply carried
// and never changes it by guessing.

import { h, money, showResult, timeOfDay } from "./format.js";
import { say } from "./messages.js";
import { lineTitle } from "./product-card.js";

const EMPTY = { lines: [], currency: null, total: 0, expires_at_ms: null };

/** The cart as the page knows it: set from every cart reply (cart_add, cart_remove, cart_view). */
export function createCart({ hub }) {
  let cart = EMPTY;
  const listeners = new Set();
  const store = {
    get: () => cart,
    count: () => cart.lines.reduce((sum, line) => sum + line.quantity, 0),
    set(next) {
      cart = next ?? EMPTY;
      for (const fn of listeners) fn(cart);
    },
    subscribe(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    async refresh() {
      if (!hub.token) return;
      try {
        store.set((await hub.request("cart_view")).cart);
      } catch {
        // The badge keeps what it showed; the dialog reloads when opened.
      }
    },
    ordered(type) {
      if (type === "checkout") store.set(EMPTY);
    },
    async remove(sku) {
      try {
        store.set((await hub.request("cart_remove", { sku })).cart);
        return { kind: "ok", text: "Removed" };
      } catch (error) {
        return { kind: "refused", text: say(error.code) };
      }
    },
  };
  return store;
}

/** The cart's total with the brand's shipping fee for it: the order a checkout makes is
 * charged both ("Total €20.00 + €3.00 shipping"). */
function totalText(c, rule) {
  const items = `Total ${money(c.total, c.currency)}`;
  if (!rule || !rule.flat) return items;
  if (rule.free_over !== null && c.total >= rule.free_over) return `${items}, free shipping`;
  return `${items} + ${money(rule.flat, c.currency)} shipping`;
}

/** The cart dialog and its badge: `mountCart(dialog, {hub, cart, actions, button})`. */
export function mountCart(dialog, { hub, cart, actions, button }) {
  const count = button.querySelector(".lc-count");
  const list = dialog.querySelector(".cart-lines");
  const empty = dialog.querySelector(".cart-empty");
  const total = dialog.querySelector(".cart-total");
  const expiry = dialog.querySelector(".cart-expiry");
  const checkout = dialog.querySelector(".checkout");
  const result = dialog.querySelector(".cart-result");

  function render(c) {
    const n = cart.count();
    count.textContent = n ? String(n) : "";
    button.setAttribute("aria-label", n ? `Your cart, ${n} item${n === 1 ? "" : "s"}` : "Your cart");
    list.replaceChildren(
      ...c.lines.map((line) => {
        const status = h("p", { class: "lc-result", role: "status" });
        const remove = h("button", { class: "lc-button lc-button--small", type: "button", text: "Remove" });
        remove.addEventListener("click", async () => {
          remove.disabled = true;
          showResult(status, "pending", "Removing…");
          const outcome = await cart.remove(line.sku);
          remove.disabled = false;
          showResult(status, outcome.kind, outcome.text);
        });
        return h(
          "li",
          { class: "cart-line" },
          h("span", { class: "cart-line__title", text: lineTitle(line.title, line.variant) }),
          h("span", { class: "lc-muted", text: `${line.quantity} × ${money(line.unit_price, c.currency)}` }),
          h("strong", { text: money(line.line_total, c.currency) }),
          remove,
          status,
        );
      }),
    );
    empty.hidden = c.lines.length > 0;
    total.hidden = c.lines.length === 0;
    total.textContent = c.lines.length ? totalText(c, hub.state.show?.shipping) : "";
    expiry.hidden = !c.expires_at_ms;
    expiry.textContent = c.expires_at_ms
      ? `Held for you until ${timeOfDay(c.expires_at_ms, hub.state.clockOffsetMs)}`
      : "";
    checkout.disabled = c.lines.length === 0;
  }

  cart.subscribe(render);
  render(cart.get());

  button.addEventListener("click", () => {
    showResult(result, "", "");
    dialog.showModal();
    cart.refresh();
  });
  checkout.addEventListener("click", async () => {
    checkout.disabled = true;
    checkout.setAttribute("aria-busy", "true");
    showResult(result, "pending", "Placing your order…");
    const c = cart.get();
    const outcome = await actions.checkout(JSON.stringify([c.lines, c.total]));
    checkout.removeAttribute("aria-busy");
    showResult(result, outcome.kind, outcome.text);
    if (outcome.kind !== "ok") cart.refresh();
    render(cart.get());
  });
}
