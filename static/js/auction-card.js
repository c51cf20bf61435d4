// The auction over the video: the item, the current bid and who leads, a countdown to
// its end by Redis' clock, a Bid button for the next bid (one tap), a custom amount and
// a max bid (the server bids for you up to it), and where you stand ("You're winning",
// "Outbid"). At the end: "You won!" or who it was sold to; a cancel is said briefly.
// A second-chance offer (the winner's payment failed) shows an Accept button.
//
// Everything shown comes from the hub's state (snapshot, events, a reply's view); a tap
// shows its pending state until its reply. A viewer without a token is asked to sign up
// on the tap, as Buy does.

import { auctionEndWords, bidOutcome, cardVisible, isFinal, nextBid, priceLine, standing, TICK_MS, timeLeft } from "./auctions.js";
import { amountText, countdown, h, minorUnits, money, shortOrderId, showResult } from "./format.js";
import { say } from "./messages.js";
import { PLACEHOLDER_IMAGE } from "./product-card.js";

/** "Auction · Sudden death", or "Auction · +10 s on late bids" for extended mode. */
function kindWords(view) {
  if (view.mode === "extended") return `Auction · +${view.extend_s ?? 10} s on late bids`;
  return "Auction · Sudden death";
}

function field(id, label, hint) {
  const input = h("input", {
    id,
    class: "lc-input",
    inputmode: "decimal",
    autocomplete: "off",
    "aria-describedby": hint ? `${id}-hint` : null,
  });
  return {
    input,
    el: h(
      "div",
      { class: "lc-field" },
      h("label", { for: id, text: label }),
      input,
      hint ? h("p", { id: `${id}-hint`, class: "lc-hint", text: hint }) : null,
    ),
  };
}

export function mountAuctionCard(section, { hub, signIn, setUpCard = null }) {
  const image = h("img", { class: "auction-card__image", alt: "", width: 56, height: 56 });
  image.addEventListener("error", () => {
    if (!image.src.endsWith(PLACEHOLDER_IMAGE)) image.src = PLACEHOLDER_IMAGE;
  });
  const kind = h("p", { class: "auction-card__kind" });
  const title = h("h2", { class: "auction-card__title" });
  const priceLabel = h("span", { class: "auction-card__label lc-muted" });
  const price = h("span", { class: "auction-card__price" });
  const leader = h("span", { class: "auction-card__leader lc-muted" });
  const prices = h("p", { class: "auction-card__prices" }, priceLabel, " ", price, " ", leader);
  const clock = h("p", { class: "auction-card__clock", "aria-label": "Time left" });
  const standingLine = h("p", { class: "auction-card__standing", role: "status" });
  const bid = h("button", { type: "button", class: "lc-button lc-button--primary auction-card__bid" });
  const amount = field("auction-amount", "Your bid");
  const max = field("auction-max", "Max bid (optional)", "We bid for you, as little as needed, up to this");
  const custom = h(
    "details",
    { class: "auction-card__custom" },
    h("summary", { text: "Custom or max bid" }),
    h(
      "form",
      { class: "auction-card__form", novalidate: true },
      h("div", { class: "auction-card__fields" }, amount.el, max.el),
      h("button", { type: "submit", class: "lc-button", text: "Place bid" }),
    ),
  );
  const form = custom.querySelector("form");
  const place = form.querySelector("button");
  const offerLine = h("p", { class: "auction-card__offer-words" });
  const accept = h("button", { type: "button", class: "lc-button lc-button--primary", text: "Accept" });
  const offerBox = h("div", { class: "auction-card__offer", hidden: true }, offerLine, accept);
  const result = h("p", { class: "lc-result auction-card__result", role: "status" });
  const actions = h("div", { class: "auction-card__actions" }, bid, custom);
  const card = h(
    "article",
    { class: "auction-card", "aria-labelledby": "auction-title" },
    image,
    h(
      "div",
      { class: "auction-card__info" },
      kind,
      title,
      prices,
    ),
    clock,
    standingLine,
    actions,
    offerBox,
    result,
  );
  title.id = "auction-title";
  section.replaceChildren(card);

  const bidIn = new Set(); // auctions this viewer bid in (to say "Outbid")
  const won = new Set(); // auctions the personal auction_won named
  const removedFrom = new Set(); // auctions a moderator removed this viewer from
  const finalSeen = new Map(); // auction id -> Redis ms when this page saw it end
  let offer = null; // the personal auction_offer: {auction, amount, expires_ms}
  let busy = false;
  let timer = null;
  let shownId = null;
  let bidWords = false; // the result line says a bid's outcome (stale once it ends)

  /** The result line; `aboutBid` marks words that go stale when the auction ends. */
  function tell(kind, text, aboutBid = false) {
    showResult(result, kind, text);
    bidWords = aboutBid && Boolean(text);
  }

  const me = () => hub.state.you.user;
  const auction = () => hub.state.show?.auction ?? null;

  async function needsBuyer() {
    if (hub.token) return false;
    return !(await signIn());
  }

  /** One bid: `amount` (and `max` for a proxy bid); its outcome said under the card. */
  async function send(amountMinor, maxMinor, button) {
    const view = auction();
    if (busy || !view || view.state !== "running") return;
    if (await needsBuyer()) {
      tell("refused", say("token_missing"));
      return;
    }
    busy = true;
    button.setAttribute("aria-busy", "true");
    tell("pending", "Bidding…");
    render();
    let outcome;
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const fields = { auction: view.id, amount: amountMinor };
      if (maxMinor) fields.max = maxMinor;
      try {
        const reply = await hub.request("bid", fields);
        hub.learn("auction", reply.auction);
        if (["leading", "outbid", "max_raised", "already_leading"].includes(reply.result)) bidIn.add(view.id);
        outcome = bidOutcome(reply.result, reply.auction ?? auction(), { amount: amountMinor, max: maxMinor });
        if (reply.result === "card_required" && attempt === 0 && setUpCard && (await setUpCard())) continue;
      } catch (error) {
        outcome = { kind: "refused", text: say(error.code) };
      }
      break;
    }
    busy = false;
    button.removeAttribute("aria-busy");
    tell(outcome.kind, outcome.text, true);
    render();
  }

  bid.addEventListener("click", () => {
    const view = auction();
    if (view) send(nextBid(view), null, bid);
  });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const view = auction();
    if (!view) return;
    const next = nextBid(view);
    const typed = amount.input.value.trim();
    const typedMax = max.input.value.trim();
    const amountMinor = typed ? minorUnits(typed, view.currency) : next;
    const maxMinor = typedMax ? minorUnits(typedMax, view.currency) : null;
    amount.input.removeAttribute("aria-invalid");
    max.input.removeAttribute("aria-invalid");
    if (amountMinor === null || amountMinor < next) {
      amount.input.setAttribute("aria-invalid", "true");
      tell("refused", `Enter at least ${money(next, view.currency)}`, true);
      return;
    }
    if (typedMax && (maxMinor === null || maxMinor < amountMinor)) {
      max.input.setAttribute("aria-invalid", "true");
      tell("refused", `Enter a max bid of at least ${money(amountMinor, view.currency)}`, true);
      return;
    }
    send(amountMinor, maxMinor, place);
  });

  accept.addEventListener("click", async () => {
    if (busy || !offer) return;
    busy = true;
    accept.setAttribute("aria-busy", "true");
    tell("pending", "Buying…");
    render();
    let text;
    let ok = false;
    try {
      const reply = await hub.request("auction_accept", { auction: offer.auction });
      ok = reply.result === "confirmed";
      text = ok ? `Ordered ✓ #${shortOrderId(reply.order.id)}` : say(reply.result);
    } catch (error) {
      text = say(error.code);
    }
    if (ok) offer = null;
    busy = false;
    accept.removeAttribute("aria-busy");
    tell(ok ? "ok" : "refused", text);
    render();
  });

  function personal(message) {
    const view = auction();
    const currency = view?.currency;
    switch (message.type) {
      case "outbid":
        bidIn.add(message.auction);
        if (view?.id === message.auction && !busy) {
          tell("refused", `${message.leader_name || "Another bidder"} bid ${money(message.price, currency)}`, true);
        }
        break;
      case "auction_won":
        won.add(message.auction);
        finalSeen.set(message.auction, hub.serverNow());
        break;
      case "auction_offer":
        offer = { ...message };
        if (!busy) tell("ok", "");
        break;
      case "auction_payment":
        if (message.payment === "paid") {
          tell("ok", `Paid ✓${message.order ? ` Order #${shortOrderId(message.order)}` : ""}`);
        } else if (message.payment === "unpaid") {
          tell("refused", `${say("payment_declined")}. The item may go to the next bidder`);
        }
        break;
      default:
        break;
    }
  }

  function render() {
    const view = auction();
    const now = hub.serverNow();
    if (view && isFinal(view) && !finalSeen.has(view.id)) finalSeen.set(view.id, shownId === view.id ? now : null);
    const offerOn = Boolean(offer && view && offer.auction === view.id && offer.expires_ms > now);
    if (offer && !offerOn && offer.expires_ms <= now) offer = null;
    const visible = offerOn || cardVisible(view, { me: me(), now, finalSeenMs: finalSeen.get(view?.id) ?? null });
    section.hidden = !visible;
    if (!visible) {
      stopTimer();
      return;
    }
    if (shownId !== view.id) {
      shownId = view.id;
      tell("ok", "");
      amount.input.value = "";
      max.input.value = "";
      custom.open = false;
    }
    const imageUrl = view.image_url || PLACEHOLDER_IMAGE;
    if (image.dataset.url !== imageUrl) {
      image.dataset.url = imageUrl;
      image.src = imageUrl;
    }
    const running = view.state === "running";
    card.dataset.state = view.state;
    kind.textContent = kindWords(view);
    title.textContent = view.title;
    const line = priceLine(view);
    prices.hidden = !running; // the end's words say the price
    priceLabel.textContent = line.label;
    price.textContent = line.amount;
    leader.textContent = view.leader_name && running ? `· ${view.leader_name}` : "";
    const left = timeLeft(view, now);
    clock.hidden = !running;
    clock.textContent = left > 0 ? countdown(left) : "Closing…";
    clock.classList.toggle("is-ending", left <= 10_000);

    const isWinner = Boolean(me()) && (view.winner === me() || won.has(view.id));
    const removed = running && removedFrom.has(view.id);
    const where = isWinner ? "won" : removed ? "outbid" : standing(view, me(), bidIn.has(view.id));
    card.dataset.standing = running ? where ?? "" : isFinal(view) ? (where === "won" ? "won" : "over") : "";
    if (running) {
      standingLine.textContent = removed
        ? say("removed_from_auction")
        : where === "winning"
          ? "You're winning"
          : where === "outbid"
            ? `Outbid — bid again, ${money(nextBid(view), view.currency)}`
            : "";
    } else {
      standingLine.textContent = auctionEndWords(view, me());
    }
    actions.hidden = !running;
    const next = money(nextBid(view), view.currency);
    if (!busy) {
      bid.disabled = !running || left <= 0 || removed;
      place.disabled = bid.disabled;
      bid.textContent = `Bid ${next}`;
    } else {
      bid.disabled = place.disabled = true;
    }
    bid.setAttribute("aria-label", `Bid ${next} on ${view.title}`);
    amount.input.placeholder = amountText(nextBid(view), view.currency);
    offerBox.hidden = !offerOn;
    if (offerOn) {
      offerLine.textContent = `Second chance: it's yours for ${money(offer.amount, view.currency)} (${countdown(offer.expires_ms - now)} left)`;
      accept.textContent = `Accept for ${money(offer.amount, view.currency)}`;
      accept.disabled = busy;
    }
    if (running || offerOn || isFinal(view)) startTimer();
  }

  function startTimer() {
    if (!timer) timer = setInterval(render, TICK_MS);
  }

  function stopTimer() {
    clearInterval(timer);
    timer = null;
  }

  hub.subscribe((change) => {
    if (change.kind === "personal") personal(change.message);
    const event = change.kind === "event" ? change.event : null;
    // A bid's outcome is stale once the auction ends or the viewer is removed from it.
    if (["auction_ended", "auction_cancelled"].includes(event?.type) && bidWords && !busy) tell("ok", "");
    if (event?.type === "auction_bidder_removed" && me() && event.data.user === me()) {
      removedFrom.add(event.data.auction);
      if (bidWords && !busy) tell("ok", "");
    }
    render();
  });
  render();
}
