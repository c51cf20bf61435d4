// The buyer's actions (buy, add to cart, check out), each answered in words in place.
//
// One tap is one idempotency key. A tap whose outcome is unknown (the connection
// dropped, the store did not answer, the order is still being confirmed) keeps its key,
// so tapping again, or the hub client resending after a reconnect, returns the first
// outcome and never buys twice. A tap that got an outcome frees its key: the next tap
// is a new purchase.

import { say } from "./messages.js";
import { money, shortOrderId } from "./format.js";
import { variantLabel } from "./product-card.js";

// Outcomes that say nothing about whether the order happened: retry with the same key.
const UNKNOWN_OUTCOME = new Set(["connection_lost", "store_unavailable", "in_progress", "rate_limited", "busy"]);
const IN_PROGRESS_RETRIES = 10;
const IN_PROGRESS_WAIT_MS = 1000;

function newKey(prefix) {
  const random = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  return `${prefix}-${random}`.slice(0, 64);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `createActions({hub, cart, signIn, ref, setUpCard})`. `signIn()` resolves true once
 * the page has a buyer's token (asking for one when needed); `ref` is a share link's
 * creator; `setUpCard()` (card-setup.js) resolves true once the buyer saved a card, and
 * a buy or checkout answered `card_required` is then tapped again, once.
 * Every action resolves to {kind: "ok" | "refused", text}; none throws.
 */
export function createActions({ hub, cart, signIn, ref = null, setUpCard = null }) {
  const openTaps = new Map(); // what -> {key, fingerprint}: taps whose outcome is unknown

  function keyFor(what, fingerprint, prefix) {
    const open = openTaps.get(what);
    if (open && open.fingerprint === fingerprint) return open.key;
    const key = newKey(prefix);
    openTaps.set(what, { key, fingerprint });
    return key;
  }

  async function needsBuyer() {
    if (hub.token) return false;
    return !(await signIn());
  }

  async function order(what, type, fields) {
    for (let attempt = 0; ; attempt += 1) {
      let reply;
      try {
        reply = await hub.request(type, fields);
      } catch (error) {
        if (!UNKNOWN_OUTCOME.has(error.code)) openTaps.delete(what);
        return { kind: "refused", text: say(error.code) };
      }
      if (reply.result === "in_progress" && attempt < IN_PROGRESS_RETRIES) {
        await sleep(reply.retry_after_ms ?? IN_PROGRESS_WAIT_MS);
        continue;
      }
      if (reply.result === "in_progress") return { kind: "refused", text: say("in_progress") };
      openTaps.delete(what);
      if (reply.result === "confirmed") {
        cart?.ordered(type, reply.order);
        // What was ordered, when a line names a variant: "Ordered ✓ #1a2b3c4d · S / Red".
        const variants = (reply.order.lines ?? []).map((line) => variantLabel(line.variant)).filter(Boolean);
        const what = variants.length ? ` · ${variants.join(", ")}` : "";
        // What was charged, when shipping was added to the price the card showed.
        const paid = reply.order.shipping
          ? ` · ${money(reply.order.total, reply.order.currency)} with shipping`
          : "";
        return { kind: "ok", text: `Ordered ✓ #${shortOrderId(reply.order.id)}${what}${paid}`, order: reply.order };
      }
      return { kind: "refused", text: say(reply.result), code: reply.result };
    }
  }

  async function withCard(tap) {
    const result = await tap();
    if (result.code !== "card_required" || !setUpCard || !(await setUpCard())) return result;
    return tap();
  }

  return {
    /** One tap on Buy: one unit at the price shown. */
    async buy(product, price) {
      if (await needsBuyer()) return { kind: "refused", text: say("token_missing") };
      const what = `buy:${product.sku}`;
      return withCard(() => {
        const fields = { sku: product.sku, quantity: 1, price };
        if (ref) fields.ref = ref;
        fields.idempotency_key = keyFor(what, JSON.stringify(fields), "tap");
        return order(what, "buy", fields);
      });
    },

    async addToCart(product, price) {
      if (await needsBuyer()) return { kind: "refused", text: say("token_missing") };
      const fields = { sku: product.sku, quantity: 1, price };
      if (ref) fields.ref = ref;
      try {
        const reply = await hub.request("cart_add", fields);
        cart?.set(reply.cart);
        const line = reply.cart.lines.find((l) => l.sku === product.sku);
        return { kind: "ok", text: `In your cart ✓ (${line ? line.quantity : 1})` };
      } catch (error) {
        return { kind: "refused", text: say(error.code) };
      }
    },

    async checkout(cartTotalFingerprint) {
      if (await needsBuyer()) return { kind: "refused", text: say("token_missing") };
      return withCard(() => {
        const key = keyFor("checkout", cartTotalFingerprint, "checkout");
        return order("checkout", "checkout", { idempotency_key: key });
      });
    },
  };
}
