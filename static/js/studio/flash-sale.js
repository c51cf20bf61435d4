// Flash sales from the studio: a form (product, flash price, units, per-buyer limit,
// countdown, duration; docs/api-shows.md has the rules) checked field by field before
// it is sent, and, while a sale is coming or on, the sale with its countdown by Redis'
// clock and a button that ends it now. The server decides; a refusal lands on the field
// it names.

import { countdown, minorUnits, money, showResult } from "../format.js";
import { flashPhase } from "../pricing.js";
import { lineTitle } from "../product-card.js";
import { perform, staffSay } from "../staff.js";
import { spoken, whole } from "./fields.js";

const TICK_MS = 200;
// A variant is sold on its own, so its flash sale names it: "Tee — S / Red".
const named = (card) => lineTitle(card.title, card.variant, card.options);
const MAX_QUANTITY = 1_000_000;
const MAX_COUNTDOWN_S = 3600;
const MAX_DURATION_S = 21_600;
const MAX_PRICE = 10 ** 11;

export function mountFlashControl(section, { hub }) {
  const $ = (selector) => section.querySelector(selector);
  const now = $("#flash-now");
  const what = $("#flash-what");
  const clock = $("#flash-clock");
  const phaseLine = $("#flash-phase");
  const stop = $("#flash-stop");
  const form = $("#flash-form");
  const skuSelect = $("#flash-sku");
  const fields = {
    sku: skuSelect,
    price: $("#flash-price"),
    quantity: $("#flash-quantity"),
    per_buyer_limit: $("#flash-limit"),
    countdown_s: $("#flash-countdown"),
    duration_s: $("#flash-duration"),
  };
  const priceHint = $("#flash-price-hint");
  const submit = form.querySelector("button[type=submit]");
  const result = $("#flash-result");
  const role = () => hub.state.you.role;
  let timer = null;
  let shownPhase = null;
  let endedId = null; // the sale whose end was already said

  function fieldError(name, words) {
    const input = fields[name];
    const error = document.getElementById(`${input.id}-error`);
    error.textContent = words ?? "";
    if (words) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }

  function clearErrors() {
    for (const name of Object.keys(fields)) fieldError(name, null);
  }

  function selected() {
    return hub.product(skuSelect.value);
  }

  function renderOptions() {
    const previous = skuSelect.value;
    const skus = [...hub.state.lineup.keys()];
    const same = skus.length === skuSelect.options.length && skus.every((sku, i) => skuSelect.options[i].value === sku);
    if (!same) {
      skuSelect.replaceChildren(...skus.map((sku) => new Option(named(hub.state.lineup.get(sku)), sku)));
      if (skus.includes(previous)) skuSelect.value = previous;
      else if (hub.state.show?.pinned && skus.includes(hub.state.show.pinned)) skuSelect.value = hub.state.show.pinned;
    }
    const product = selected();
    if (product) {
      priceHint.textContent = `Show price ${money(product.price, product.currency)}; ${product.stock} left. Enter the price in ${product.currency}.`;
    }
  }

  /** The sale as the server takes it, or null with every bad field marked. */
  function read() {
    clearErrors();
    const product = selected();
    const sale = { sku: skuSelect.value };
    let ok = true;
    const bad = (name, words) => {
      fieldError(name, words);
      ok = false;
    };
    if (!product) bad("sku", "Choose a product of the lineup");
    const price = product ? minorUnits(fields.price.value, product.currency) : null;
    if (price === null || price > MAX_PRICE) bad("price", "Enter a price like 19.90");
    else sale.price = price;
    const quantity = whole(fields.quantity.value);
    if (quantity === null || quantity < 1 || quantity > MAX_QUANTITY) bad("quantity", "Enter how many units, 1 or more");
    else if (product && quantity > product.stock) bad("quantity", `Only ${product.stock} left: enter at most that`);
    else sale.quantity = quantity;
    const limit = whole(fields.per_buyer_limit.value || "0");
    const maxLimit = hub.state.limits?.max_quantity ?? 100;
    if (limit === null || limit > maxLimit) bad("per_buyer_limit", `Enter 0 (no extra limit) up to ${maxLimit}`);
    else sale.per_buyer_limit = limit;
    const wait = whole(fields.countdown_s.value || "0");
    if (wait === null || wait > MAX_COUNTDOWN_S) bad("countdown_s", "Enter 0 to 3600 seconds");
    else sale.countdown_s = wait;
    const duration = whole(fields.duration_s.value);
    if (duration === null || duration < 1 || duration > MAX_DURATION_S) bad("duration_s", "Enter 1 to 21600 seconds (6 hours)");
    else sale.duration_s = duration;
    return ok ? sale : null;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const sale = read();
    if (!sale) {
      showResult(result, "refused", "Check the fields marked above");
      return;
    }
    await perform(
      submit,
      result,
      "Starting the flash sale…",
      async () => {
        try {
          await hub.request("flash_start", sale);
        } catch (error) {
          if (error.field && fields[error.field]) fieldError(error.field, staffSay(error, role()));
          else if (error.code === "not_enough_stock") fieldError("quantity", staffSay(error, role()));
          throw error;
        }
        return sale.countdown_s ? `Flash sale announced ✓ It starts in ${spoken(sale.countdown_s)}` : "Flash sale on ✓";
      },
      role,
    );
    render();
    if (!now.hidden) stop.focus(); // the form the focus was in is hidden now
  });

  for (const name of ["countdown_s", "duration_s"]) {
    const input = fields[name];
    const hint = document.getElementById(`${input.id}-hint`);
    const readBack = () => {
      hint.textContent = spoken(whole(input.value || "0"));
    };
    input.addEventListener("input", readBack);
    readBack();
  }
  skuSelect.addEventListener("change", renderOptions);

  stop.addEventListener("click", async () => {
    await perform(
      stop,
      result,
      "Ending the flash sale…",
      async () => {
        const reply = await hub.request("flash_stop");
        return reply.changed ? "The flash sale has ended ✓" : "There was no flash sale on";
      },
      role,
    );
    render();
    if (now.hidden) skuSelect.focus();
  });

  function render() {
    renderOptions();
    const flash = hub.state.show?.flash_sale ?? null;
    const phase = flashPhase(flash, hub.serverNow());
    const on = flash && phase !== "ended";
    now.hidden = !on;
    form.hidden = Boolean(on);
    if (on) {
      const product = hub.product(flash.sku);
      const currency = product?.currency ?? "EUR";
      const limit = flash.per_buyer_limit ? `, ${flash.per_buyer_limit} per buyer` : "";
      const was = product ? ` (was ${money(product.price, currency)})` : "";
      what.textContent = `${product ? named(product) : flash.sku}: ${money(flash.price, currency)}${was}, ${flash.quantity} units${limit}`;
      const left = phase === "countdown" ? flash.starts_ms - hub.serverNow() : flash.ends_ms - hub.serverNow();
      clock.textContent = `${phase === "countdown" ? "Starts in" : "Ends in"} ${countdown(left)}`;
      if (!timer) timer = setInterval(render, TICK_MS);
    } else if (timer) {
      clearInterval(timer);
      timer = null;
    }
    const current = on ? phase : flash ? "ended" : null;
    if (current !== shownPhase) {
      shownPhase = current;
      phaseLine.textContent = { countdown: "A flash sale is coming", running: "The flash sale is on" }[current] ?? "";
      // The end is said once, by the clock, even before the server's sweep sends it.
      const endedSale = flash?.id ?? null;
      if (current === "ended" && endedSale !== endedId) {
        endedId = endedSale;
        showResult(result, "ok", "The flash sale has ended");
      }
    }
  }

  hub.subscribe((change) => {
    if (change.kind === "event" && change.event.type === "flash_ended" && change.event.data.id !== endedId) {
      endedId = change.event.data.id;
      if (result.dataset.kind !== "pending") showResult(result, "ok", "The flash sale has ended");
    }
    render();
  });
  render();
}
