// Auctions from the studio: a form (a lineup item, start price, increment, duration,
// sudden death or extended with its extra seconds) checked field by field before it is
// sent; the running auction with its current bid, leader, bids and time left by Redis'
// clock; after the end, who won and the payment (staff-only `auction_status`), with
// "Offer to runner-up" and "Release" when the winner's payment failed.

import { timeLeft } from "../auctions.js";
import { countdown, minorUnits, money, showResult } from "../format.js";
import { lineTitle } from "../product-card.js";
import { perform, staffSay } from "../staff.js";
import { fieldError, spoken, whole } from "./fields.js";
import { auctionOutcome } from "./sale-status.js";

const TICK_MS = 200;
const MAX_PRICE = 10 ** 11;
const OFFER_SECONDS = 300;
const named = (card) => lineTitle(card.title, card.variant, card.options);

/** The product choices of a lineup: each sellable card (a variant on its own). */
export function fillSkuSelect(select, hub) {
  const previous = select.value;
  const skus = [...hub.state.lineup.values()].filter((card) => !card.variants).map((card) => card.sku);
  const same = skus.length === select.options.length && skus.every((sku, i) => select.options[i].value === sku);
  if (same) return;
  select.replaceChildren(...skus.map((sku) => new Option(named(hub.state.lineup.get(sku)), sku)));
  if (skus.includes(previous)) select.value = previous;
  else if (hub.state.show?.pinned && skus.includes(hub.state.show.pinned)) select.value = hub.state.show.pinned;
}

export function mountAuctionControl(section, { hub }) {
  const $ = (selector) => section.querySelector(selector);
  const now = $("#auction-now");
  const what = $("#auction-what");
  const figures = {
    price: $("#auction-price"),
    leader: $("#auction-leader"),
    bids: $("#auction-bids"),
    clock: $("#auction-clock"),
  };
  const priceLabel = $("#auction-price-label");
  const leaderLabel = $("#auction-leader-label");
  const outcome = $("#auction-outcome");
  const payment = $("#auction-payment");
  const after = $("#auction-after");
  const offer = $("#auction-offer");
  const release = $("#auction-release");
  const form = $("#auction-form");
  const fields = {
    sku: $("#auction-sku"),
    start_price: $("#auction-start"),
    increment: $("#auction-increment"),
    duration_s: $("#auction-duration"),
    mode: $("#auction-mode"),
    extend_s: $("#auction-extend"),
  };
  const extendField = $("#auction-extend-field");
  const hint = $("#auction-hint");
  const submit = form.querySelector("button[type=submit]");
  const result = $("#auction-result");
  const role = () => hub.state.you.role;
  let timer = null;

  const auction = () => hub.state.show?.auction ?? null;

  function clearErrors() {
    for (const input of Object.values(fields)) fieldError(input, null);
  }

  /** The auction as the server takes it, or null with every bad field marked. */
  function read() {
    clearErrors();
    const product = hub.product(fields.sku.value);
    const body = { sku: fields.sku.value };
    let ok = true;
    const bad = (name, words) => {
      fieldError(fields[name], words);
      ok = false;
    };
    if (!product) bad("sku", "Choose a product of the lineup");
    else if (product.stock < 1) bad("sku", "None of it is left to auction");
    const currency = product?.currency ?? "EUR";
    const start = minorUnits(fields.start_price.value, currency);
    if (start === null || start > MAX_PRICE) bad("start_price", "Enter a start price like 10 (0 is allowed)");
    else body.start_price = start;
    const step = minorUnits(fields.increment.value, currency);
    if (step === null || step < 1 || step > MAX_PRICE) bad("increment", "Enter a step like 1.00");
    else body.increment = step;
    const duration = whole(fields.duration_s.value);
    if (duration === null || duration < 5 || duration > 600) bad("duration_s", "Enter 5 to 600 seconds");
    else body.duration_s = duration;
    body.mode = fields.mode.value === "extended" ? "extended" : "sudden_death";
    if (body.mode === "extended") {
      const extend = whole(fields.extend_s.value);
      if (extend === null || extend < 1 || extend > 60) bad("extend_s", "Enter 1 to 60 seconds");
      else body.extend_s = extend;
    }
    return ok ? body : null;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = read();
    if (!body) {
      showResult(result, "refused", "Check the fields marked above");
      return;
    }
    await perform(
      submit,
      result,
      "Starting the auction…",
      async () => {
        try {
          const reply = await hub.request("auction_start", body);
          hub.learn("auction", reply.auction);
        } catch (error) {
          const name = error.field === "increments" ? "increment" : error.field;
          if (name && fields[name]) fieldError(fields[name], staffSay(error, role()));
          else if (error.code === "not_enough_stock") fieldError(fields.sku, staffSay(error, role()));
          throw error;
        }
        return `Auction on ✓ It ends in ${spoken(body.duration_s)}`;
      },
      role,
    );
    render();
  });

  offer.addEventListener("click", async () => {
    const view = auction();
    if (!view) return;
    await perform(
      offer,
      result,
      "Offering it to the runner-up…",
      async () => {
        const reply = await hub.request("auction_offer", { auction: view.id, seconds: OFFER_SECONDS });
        const o = reply.offer;
        return `Offered to ${o.name || o.user} at ${money(o.amount, view.currency)} for ${spoken(OFFER_SECONDS)} ✓`;
      },
      role,
    );
    render();
  });

  release.addEventListener("click", async () => {
    const view = auction();
    if (!view) return;
    await perform(
      release,
      result,
      "Releasing the unit…",
      async () => {
        await hub.request("auction_release", { auction: view.id });
        return "Released ✓ The unit is back in stock";
      },
      role,
    );
    render();
  });

  fields.mode.addEventListener("change", () => {
    extendField.hidden = fields.mode.value !== "extended";
  });
  fields.sku.addEventListener("change", renderHint);

  function renderHint() {
    const product = hub.product(fields.sku.value);
    hint.textContent = product
      ? `Show price ${money(product.price, product.currency)}; ${product.stock} left. One unit is set aside for the auction. Prices in ${product.currency}.`
      : "";
  }

  function render() {
    fillSkuSelect(fields.sku, hub);
    renderHint();
    extendField.hidden = fields.mode.value !== "extended";
    const view = auction();
    const running = view?.state === "running";
    form.hidden = running;
    now.hidden = !view;
    section.dataset.state = view?.state ?? "none";
    if (view) {
      const mode = view.mode === "extended" ? `extended, +${view.extend_s} s on late bids` : "sudden death";
      what.textContent = `${view.title}: started at ${money(view.start_price, view.currency)}, ${mode}`;
      priceLabel.textContent = !view.bids ? "No bids yet" : running ? "Current bid" : "Winning bid";
      figures.price.textContent = money(view.bids ? view.price : view.start_price, view.currency);
      leaderLabel.textContent = running ? "Leader" : "Winner";
      figures.leader.textContent = (running ? view.leader_name : view.winner_name) || "—";
      const people = view.bidders === 1 ? "1 bidder" : `${view.bidders} bidders`;
      figures.bids.textContent = `${view.bids ?? 0}${view.bidders ? ` · ${people}` : ""}`;
      const left = timeLeft(view, hub.serverNow());
      figures.clock.textContent = running ? (left > 0 ? countdown(left) : "Closing…") : "Ended";
      const end = running ? null : auctionOutcome(view, hub.state.clockOffsetMs);
      outcome.textContent = end?.headline ?? "";
      if (end?.payment) showResult(payment, end.payment.kind, end.payment.text);
      else showResult(payment, "ok", "");
      after.hidden = !end?.payment?.followUp;
    }
    if (running && !timer) timer = setInterval(render, TICK_MS);
    if (!running && timer) {
      clearInterval(timer);
      timer = null;
    }
  }

  for (const name of ["duration_s", "extend_s"]) {
    const input = fields[name];
    const readBack = document.getElementById(`${input.id}-hint`);
    const say = () => {
      readBack.textContent = spoken(whole(input.value || "0"));
    };
    input.addEventListener("input", say);
    say();
  }

  hub.subscribe(render);
  render();
}
