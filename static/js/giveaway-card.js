// The giveaway over the video: the item, how many entered, a countdown by Redis' clock
// and an Enter button; at the draw, who won ("You won!" for the winner). Entries come
// from `giveaway_entries` events (and an entry's own reply); a viewer without a token
// is asked to sign up on the tap, as Buy does.

import { cardVisible, giveawayEndWords, isFinal, TICK_MS, timeLeft } from "./auctions.js";
import { countdown, h, shortOrderId, showResult } from "./format.js";
import { say } from "./messages.js";
import { PLACEHOLDER_IMAGE } from "./product-card.js";

const SHIPPING_WORDS = { free: "free shipping", winner_pays: "winner pays shipping" };

function entrantsWords(n) {
  return n === 1 ? "1 entered" : `${n ?? 0} entered`;
}

export function mountGiveawayCard(section, { hub, signIn }) {
  const image = h("img", { class: "auction-card__image", alt: "", width: 56, height: 56 });
  image.addEventListener("error", () => {
    if (!image.src.endsWith(PLACEHOLDER_IMAGE)) image.src = PLACEHOLDER_IMAGE;
  });
  const kind = h("p", { class: "auction-card__kind" });
  const title = h("h2", { class: "auction-card__title", id: "giveaway-title" });
  const entrants = h("p", { class: "auction-card__prices giveaway-card__entrants" });
  const clock = h("p", { class: "auction-card__clock", "aria-label": "Time left" });
  const standingLine = h("p", { class: "auction-card__standing", role: "status" });
  const enter = h("button", { type: "button", class: "lc-button lc-button--primary auction-card__bid", text: "Enter" });
  const actions = h("div", { class: "auction-card__actions giveaway-card__actions" }, enter);
  const result = h("p", { class: "lc-result auction-card__result", role: "status" });
  const card = h(
    "article",
    { class: "auction-card giveaway-card", "aria-labelledby": "giveaway-title" },
    image,
    h("div", { class: "auction-card__info" }, kind, title, entrants),
    clock,
    standingLine,
    actions,
    result,
  );
  section.replaceChildren(card);

  const entered = new Set(); // giveaways this viewer is in (their entry's reply said so)
  const won = new Set(); // giveaways the personal giveaway_won named
  const finalSeen = new Map();
  let busy = false;
  let timer = null;
  let shownId = null;

  const me = () => hub.state.you.user;
  const giveaway = () => hub.state.show?.giveaway ?? null;

  enter.addEventListener("click", async () => {
    const view = giveaway();
    if (busy || !view || view.state !== "running") return;
    if (!hub.token && !(await signIn())) {
      showResult(result, "refused", say("token_missing"));
      return;
    }
    busy = true;
    enter.setAttribute("aria-busy", "true");
    showResult(result, "pending", "Entering…");
    render();
    try {
      const reply = await hub.request("giveaway_enter", { giveaway: view.id });
      entered.add(view.id);
      hub.learn("giveaway", reply.giveaway ?? { ...giveaway(), entrants: reply.entrants });
      showResult(result, "ok", reply.entered ? "You're in ✓ Good luck!" : "You're already in ✓");
      result.dataset.about = "entry";
    } catch (error) {
      showResult(result, "refused", say(error.code));
    }
    busy = false;
    enter.removeAttribute("aria-busy");
    render();
  });

  function personal(message) {
    if (message.type === "giveaway_payment") result.dataset.about = "payment";
    if (message.type === "giveaway_won") {
      won.add(message.giveaway);
      finalSeen.set(message.giveaway, hub.serverNow()); // a redraw's winner hears it late
    }
    if (message.type === "giveaway_payment" && message.payment === "paid") {
      showResult(result, "ok", `It's on its way ✓${message.order ? ` Order #${shortOrderId(message.order)}` : ""}`);
    }
    if (message.type === "giveaway_payment" && message.payment === "unpaid") {
      showResult(result, "refused", `${say("payment_declined")}: the shipping couldn't be paid`);
    }
  }

  function render() {
    const view = giveaway();
    const now = hub.serverNow();
    if (view && isFinal(view) && !finalSeen.has(view.id)) finalSeen.set(view.id, shownId === view.id ? now : null);
    const visible = cardVisible(view, { me: me(), now, finalSeenMs: finalSeen.get(view?.id) ?? null });
    section.hidden = !visible;
    if (!visible) {
      clearInterval(timer);
      timer = null;
      return;
    }
    if (shownId !== view.id) {
      shownId = view.id;
      showResult(result, "ok", "");
    }
    const imageUrl = view.image_url || PLACEHOLDER_IMAGE;
    if (image.dataset.url !== imageUrl) {
      image.dataset.url = imageUrl;
      image.src = imageUrl;
    }
    const running = view.state === "running";
    const isWinner = Boolean(me()) && (view.winner === me() || won.has(view.id));
    card.dataset.state = view.state;
    card.dataset.standing = isFinal(view) ? (isWinner ? "won" : "over") : entered.has(view.id) ? "entered" : "";
    kind.textContent = `Giveaway · ${SHIPPING_WORDS[view.shipping] ?? SHIPPING_WORDS.free}`;
    title.textContent = view.title;
    entrants.textContent = entrantsWords(view.entrants);
    const left = timeLeft(view, now);
    clock.hidden = !running;
    clock.textContent = left > 0 ? countdown(left) : "Drawing…";
    clock.classList.toggle("is-ending", left <= 10_000);
    // While it runs, the Enter button and the entry's outcome say where the viewer stands.
    standingLine.textContent = running ? "" : isWinner ? "You won!" : giveawayEndWords(view, me());
    actions.hidden = !running;
    if (!busy) {
      const done = entered.has(view.id);
      enter.disabled = !running || left <= 0 || done;
      enter.textContent = done ? "Entered ✓" : "Enter";
    }
    enter.setAttribute("aria-label", entered.has(view.id) ? `Entered the giveaway of ${view.title}` : `Enter the giveaway of ${view.title}`);
    if (!timer) timer = setInterval(render, TICK_MS);
  }

  hub.subscribe((change) => {
    if (change.kind === "personal") personal(change.message);
    const type = change.kind === "event" ? change.event.type : null;
    // An entry's outcome ("You're in") is stale once the giveaway is over.
    if (["giveaway_ended", "giveaway_cancelled"].includes(type) && result.dataset.about === "entry" && !busy) {
      showResult(result, "ok", "");
    }
    render();
  });
  render();
}
