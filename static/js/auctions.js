// What the viewer's auction and giveaway cards decide from a view (docs/protocol.md,
// "Auctions and giveaways"), as plain functions of the view, the viewer and Redis'
// clock: whether the card shows, where the viewer stands, and a bid's result in words.
// Amounts are minor units in the view's currency; times are Redis TIME milliseconds.

import { money } from "./format.js";
import { say } from "./messages.js";

// How long a finished auction or giveaway stays on screen after its end, by Redis' clock.
export const ENDED_SHOWN_MS = 15_000;
export const WON_SHOWN_MS = 60_000; // the winner reads it longer
export const TICK_MS = 200;

const AUCTION_FINAL = new Set(["ended", "unsold", "cancelled"]);
const GIVEAWAY_FINAL = new Set(["drawn", "no_entrants", "cancelled"]);

export function isFinal(view) {
  return AUCTION_FINAL.has(view?.state) || GIVEAWAY_FINAL.has(view?.state);
}

/**
 * Whether a card shows `view` at `now`: while it runs; after its end for a while (the
 * winner longer). `finalSeenMs` is when this page saw it end or heard of it since (a
 * cancel has no end time; a redraw comes later), or null when it was over before the page
 * knew it.
 */
export function cardVisible(view, { me, now, finalSeenMs }) {
  if (!view) return false;
  if (view.state === "running") return true;
  // The later of its end and the moment this page last heard of it (a redraw, a win).
  const endedAt = Math.max(view.ended_ms ?? -Infinity, finalSeenMs ?? -Infinity);
  if (endedAt === -Infinity) return false;
  const won = Boolean(me) && view.winner === me;
  return now - endedAt < (won ? WON_SHOWN_MS : ENDED_SHOWN_MS);
}

/** Milliseconds left by Redis' clock as this page knows it. Never more than the whole
 * run: the page's reading of the server clock lags it by the hello's travel time. */
export function timeLeft(view, now) {
  return Math.min(view.ends_ms - now, view.ends_ms - (view.started_ms ?? -Infinity));
}

/** The bid a tap sends now: the server's `next_bid` (the start price before any bid). */
export function nextBid(view) {
  return view.next_bid ?? view.start_price;
}

/** "Current bid €12.00" (with the leader's name beside it), or "Starting bid €10.00". */
export function priceLine(view) {
  if (view.bids > 0 || view.leader) return { label: "Current bid", amount: money(view.price, view.currency) };
  return { label: "Starting bid", amount: money(view.start_price, view.currency) };
}

/**
 * Where the viewer stands in a running auction: "winning", "outbid" (they bid and someone
 * leads above them), or null. `bidHere` says whether this viewer bid in it.
 */
export function standing(view, me, bidHere) {
  if (!view || view.state !== "running" || !me) return null;
  if (view.leader === me) return "winning";
  if (bidHere) return "outbid";
  return null;
}

/** The words of a finished auction for this viewer. */
export function auctionEndWords(view, me) {
  if (view.state === "cancelled") return view.cancel_reason ? `Auction cancelled: ${view.cancel_reason}` : "Auction cancelled";
  if (view.state === "unsold" || !view.winner) return "No bids: not sold";
  if (me && view.winner === me) return `You won! ${money(view.price, view.currency)}`;
  return `Sold to ${view.winner_name || "a bidder"} for ${money(view.price, view.currency)}`;
}

/** The words of a finished giveaway for this viewer. */
export function giveawayEndWords(view, me) {
  if (view.state === "cancelled") return view.cancel_reason ? `Giveaway cancelled: ${view.cancel_reason}` : "Giveaway cancelled";
  if (view.state === "no_entrants" || !view.winner) return "Nobody entered";
  if (me && view.winner === me) return "You won!";
  return `${view.winner_name || "Someone"} won`;
}

// Refusals whose words differ for a bid from the same code's words elsewhere.
const BID_CODES = { removed: "removed_from_auction", card_required: "card_required_to_bid" };

/**
 * A bid reply's result in words: {kind: "ok" | "refused", text}. `view` is the reply's
 * auction view (the price and next bid as the server decided them).
 */
export function bidOutcome(result, view, { amount, max }) {
  const next = view ? money(nextBid(view), view.currency) : "";
  const currency = view?.currency;
  switch (result) {
    case "leading":
      return {
        kind: "ok",
        text: max
          ? `Bid placed ✓ You're winning; we bid for you up to ${money(max, currency)}`
          : `Bid placed ✓ ${money(view?.price ?? amount, currency)}`,
      };
    case "max_raised":
      return { kind: "ok", text: `Your max bid is now ${money(max ?? amount, currency)} ✓` };
    case "outbid":
      return { kind: "refused", text: `Outbid: someone's max bid is higher. Next bid ${next}` };
    case "bid_too_low":
      return { kind: "refused", text: `${say("bid_too_low")} — next bid ${next}` };
    default:
      return { kind: "refused", text: say(BID_CODES[result] ?? result) };
  }
}
