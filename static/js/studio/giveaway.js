// Giveaways from the studio: a form (a lineup item, how long entries stay open, free
// shipping or the winner pays it); the running giveaway with its entrants and time left
// by Redis' clock and "Draw now"; after the draw, the winner and (staff-only
// `giveaway_status`) the payment, with "Redraw" and "Release" when it failed.

import { timeLeft } from "../auctions.js";
import { countdown, showResult } from "../format.js";
import { perform, staffSay } from "../staff.js";
import { fillSkuSelect } from "./auction.js";
import { fieldError, spoken, whole } from "./fields.js";
import { giveawayOutcome } from "./sale-status.js";

const TICK_MS = 200;

export function mountGiveawayControl(section, { hub }) {
  const $ = (selector) => section.querySelector(selector);
  const now = $("#giveaway-now");
  const what = $("#giveaway-what");
  const entrants = $("#giveaway-entrants");
  const clock = $("#giveaway-clock");
  const draw = $("#giveaway-draw");
  const outcome = $("#giveaway-outcome");
  const payment = $("#giveaway-payment");
  const after = $("#giveaway-after");
  const redraw = $("#giveaway-redraw");
  const release = $("#giveaway-release");
  const form = $("#giveaway-form");
  const fields = {
    sku: $("#giveaway-sku"),
    duration_s: $("#giveaway-duration"),
    shipping: $("#giveaway-shipping"),
  };
  const submit = form.querySelector("button[type=submit]");
  const result = $("#giveaway-result");
  const role = () => hub.state.you.role;
  let timer = null;

  const giveaway = () => hub.state.show?.giveaway ?? null;

  function read() {
    for (const input of Object.values(fields)) fieldError(input, null);
    const product = hub.product(fields.sku.value);
    const body = { sku: fields.sku.value, shipping: fields.shipping.value === "winner_pays" ? "winner_pays" : "free" };
    let ok = true;
    if (!product || product.stock < 1) {
      fieldError(fields.sku, product ? "None of it is left to give away" : "Choose a product of the lineup");
      ok = false;
    }
    const duration = whole(fields.duration_s.value);
    if (duration === null || duration < 5 || duration > 600) {
      fieldError(fields.duration_s, "Enter 5 to 600 seconds");
      ok = false;
    } else body.duration_s = duration;
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
      "Starting the giveaway…",
      async () => {
        try {
          const reply = await hub.request("giveaway_start", body);
          hub.learn("giveaway", reply.giveaway);
        } catch (error) {
          if (error.field && fields[error.field]) fieldError(fields[error.field], staffSay(error, role()));
          throw error;
        }
        return `Giveaway on ✓ Entries close in ${spoken(body.duration_s)}`;
      },
      role,
    );
    render();
  });

  /** One of the giveaway's buttons: `type` sent with the giveaway's id. */
  function action(button, type, pendingText, doneText) {
    button.addEventListener("click", async () => {
      const view = giveaway();
      if (!view) return;
      await perform(
        button,
        result,
        pendingText,
        async () => {
          const reply = await hub.request(type, { giveaway: view.id });
          if (reply.giveaway) hub.learn("giveaway", reply.giveaway);
          return typeof doneText === "function" ? doneText(reply) : doneText;
        },
        role,
      );
      render();
    });
  }

  const winnerWords = (reply) => {
    const g = reply.giveaway;
    if (!g) return "Drawn ✓";
    return g.winner ? `Drawn ✓ ${g.winner_name || g.winner} won` : "Drawn: nobody entered";
  };
  action(draw, "giveaway_draw", "Drawing…", winnerWords);
  action(redraw, "giveaway_redraw", "Drawing again…", winnerWords);
  action(release, "giveaway_release", "Releasing the unit…", "Released ✓ The unit is back in stock");

  function render() {
    fillSkuSelect(fields.sku, hub);
    const view = giveaway();
    const running = view?.state === "running";
    form.hidden = running;
    now.hidden = !view;
    section.dataset.state = view?.state ?? "none";
    if (view) {
      what.textContent = `${view.title}: ${view.shipping === "winner_pays" ? "the winner pays shipping" : "free shipping"}`;
      entrants.textContent = String(view.entrants ?? 0);
      const left = timeLeft(view, hub.serverNow());
      clock.textContent = running ? (left > 0 ? countdown(left) : "Drawing…") : "Ended";
      draw.hidden = !running;
      const end = running ? null : giveawayOutcome(view, hub.state.clockOffsetMs);
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

  const durationHint = document.getElementById("giveaway-duration-hint");
  const readBack = () => {
    durationHint.textContent = spoken(whole(fields.duration_s.value || "0"));
  };
  fields.duration_s.addEventListener("input", readBack);
  readBack();

  hub.subscribe(render);
  render();
}
