// Saving a card for one-tap buys, where the node charges cards through Stripe
// (docs/api-buyers.md, "Card on file"). A buy answered `card_required` opens this sheet:
// livecart makes a SetupIntent (POST /api/me/card/setup), Stripe's own card field takes
// the number (it goes to Stripe, never to livecart), Stripe.js confirms the SetupIntent,
// and livecart keeps the card it saved (POST /api/me/card). The buy is then tapped again.
//
// Stripe.js is the one script a page loads from elsewhere, because Stripe requires its
// card field to come from js.stripe.com. It is loaded only here, only when a buyer needs
// a card, and only when the node gave a publishable key. When it cannot load (offline,
// blocked), the sheet says so in words and nothing is charged.

import { api } from "./api.js";
import { h, showResult } from "./format.js";
import { say } from "./messages.js";

const STRIPE_JS = "https://js.stripe.com/v3";
let stripeJs = null; // the pending load, shared by every sheet on the page

function loadStripeJs() {
  if (window.Stripe) return Promise.resolve(window.Stripe);
  if (!stripeJs) {
    stripeJs = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = STRIPE_JS;
      script.async = true;
      script.addEventListener("load", () =>
        window.Stripe ? resolve(window.Stripe) : reject(new Error("stripe_js_unavailable")),
      );
      script.addEventListener("error", () => {
        stripeJs = null; // the next sheet tries again
        script.remove();
        reject(new Error("stripe_js_unavailable"));
      });
      document.head.append(script);
    });
  }
  return stripeJs;
}

function buildSheet() {
  const status = h("p", { class: "lc-result", role: "status", "aria-live": "polite" });
  const mount = h("div", { class: "lc-input card-setup__field", id: "card-setup-field" });
  const save = h("button", { type: "submit", class: "lc-button lc-button--primary", text: "Save card", disabled: true });
  const cancel = h("button", { type: "button", class: "lc-button", text: "Cancel" });
  const form = h(
    "form",
    {},
    h("p", { class: "lc-muted", text: "Your card is kept by Stripe; this show's one-tap Buy charges it." }),
    h("div", { class: "lc-field" }, h("label", { for: mount.id, text: "Card" }), mount),
    status,
    h("div", { class: "lc-row" }, save, cancel),
  );
  const dialog = h(
    "dialog",
    { class: "lc-dialog", id: "card-setup-dialog", "aria-labelledby": "card-setup-title" },
    h("div", { class: "lc-dialog__head" }, h("h2", { id: "card-setup-title", text: "Add a card to buy" })),
    h("div", { class: "lc-dialog__body" }, form),
  );
  cancel.addEventListener("click", () => dialog.close());
  document.body.append(dialog);
  return { dialog, form, mount, status, save };
}

/**
 * `createCardSetup({token})`, `token()` giving the buyer's token. `ask()` opens the
 * sheet and resolves true once a card is saved, false when the person closes it (or
 * the card form cannot be shown: the sheet says why).
 */
export function createCardSetup({ token }) {
  let sheet = null;
  let open = null; // one sheet at a time: a second tap waits for the first

  async function run() {
    sheet ??= buildSheet();
    const { dialog, form, mount, status, save } = sheet;
    mount.replaceChildren();
    save.disabled = true;
    showResult(status, "pending", say("card_loading"));
    dialog.showModal();
    const closed = new Promise((resolve) => dialog.addEventListener("close", () => resolve(false), { once: true }));

    let setup;
    try {
      setup = await api("/api/me/card/setup", { method: "POST", token: token() });
    } catch (error) {
      showResult(status, "refused", say(error.code));
      return closed;
    }
    if (!setup.publishable_key) {
      showResult(status, "refused", say("card_setup_unavailable"));
      return closed;
    }
    let Stripe;
    try {
      Stripe = await loadStripeJs();
    } catch {
      showResult(status, "refused", say("stripe_js_unavailable"));
      return closed;
    }
    const stripe = Stripe(setup.publishable_key);
    const card = stripe.elements().create("card");
    card.mount(mount);
    save.disabled = false;
    showResult(status, "ok", "");

    const saved = new Promise((resolve) => {
      form.onsubmit = async (event) => {
        event.preventDefault();
        save.disabled = true;
        showResult(status, "pending", say("card_saving"));
        const { setupIntent, error } = await stripe.confirmCardSetup(setup.client_secret, {
          payment_method: { card },
        });
        if (error) {
          // Stripe's own sentence for the person ("Your card number is incomplete.").
          showResult(status, "refused", error.message || say("payment_declined"));
          save.disabled = false;
          return;
        }
        try {
          await api("/api/me/card", { method: "POST", token: token(), body: { setup_intent: setupIntent.id } });
        } catch (failure) {
          showResult(status, "refused", say(failure.code));
          save.disabled = false;
          return;
        }
        resolve(true);
        dialog.close();
      };
    });
    const outcome = await Promise.race([saved, closed]);
    form.onsubmit = null;
    card.destroy();
    return outcome;
  }

  return {
    async ask() {
      open ??= run().finally(() => {
        open = null;
      });
      return open;
    },
  };
}
