// How a finished auction or giveaway stands for the staff, in words: who won, and where
// the winner's payment is (the staff-only `auction_status` / `giveaway_status` events,
// or the view's `payment` when the page opened later). `followUp` says whether the
// streamer has something to decide now (the payment failed, or an offer lapsed).

import { money, shortOrderId, timeOfDay } from "../format.js";
import { MESSAGES } from "../messages.js";

function whoIs(view, user) {
  if (!user) return "the winner";
  return user === view.winner && view.winner_name ? view.winner_name : user;
}

function paymentWords(view, offsetMs) {
  const status = view.status ?? null;
  const payment = status?.payment ?? view.payment ?? null;
  const user = status?.user ?? view.winner;
  const who = status?.name || (view.payee && view.payee.user === user ? view.payee.name : whoIs(view, user));
  const order = status?.order ?? view.order;
  const why = status?.reason ? MESSAGES[`winner_${status.reason}`] : null; // a code: said in words, or not at all
  const reason = why ? `: ${why}` : "";
  switch (payment) {
    case "paid":
      return { text: `Paid ✓${order ? ` Order #${shortOrderId(order)}` : ""}`, followUp: false, kind: "ok" };
    case "unpaid":
      return { text: `${who}'s payment failed${reason}`, followUp: true, kind: "refused" };
    case "offered": {
      const amount = status?.amount ? ` at ${money(status.amount, view.currency)}` : "";
      const until = status?.expires_ms ? ` until ${timeOfDay(status.expires_ms, offsetMs)}` : "";
      return { text: `Offered to ${who}${amount}${until}`, followUp: false, kind: "pending" };
    }
    case "accepted":
      return { text: `${who} accepted the offer. Charging…`, followUp: false, kind: "pending" };
    case "offer_expired":
      return { text: `The offer to ${who} expired`, followUp: true, kind: "refused" };
    case "released":
      return { text: "Released: the unit is back in stock", followUp: false, kind: "ok" };
    case "charging":
    case null:
      return { text: `Charging ${who}…`, followUp: false, kind: "pending" };
    default:
      return { text: payment, followUp: false, kind: "pending" };
  }
}

/** {headline, payment: {text, followUp, kind} | null} for a finished auction. */
export function auctionOutcome(view, offsetMs = 0) {
  if (view.state === "cancelled") {
    return { headline: `Cancelled${view.cancel_reason ? `: ${view.cancel_reason}` : ""}`, payment: null };
  }
  if (view.state === "unsold" || !view.winner) return { headline: "No bids: not sold. The unit is back in stock", payment: null };
  const headline = `Sold to ${view.winner_name || view.winner} for ${money(view.price, view.currency)}`;
  return { headline, payment: paymentWords(view, offsetMs) };
}

/** The same for a finished giveaway; a free giveaway has nothing to pay. */
export function giveawayOutcome(view, offsetMs = 0) {
  if (view.state === "cancelled") {
    return { headline: `Cancelled${view.cancel_reason ? `: ${view.cancel_reason}` : ""}`, payment: null };
  }
  if (view.state === "no_entrants" || !view.winner) return { headline: "Nobody entered. The unit is back in stock", payment: null };
  const headline = `${view.winner_name || view.winner} won (${view.entrants} entered)`;
  const known = view.status?.payment ?? view.payment;
  if (!known && view.shipping !== "winner_pays") return { headline, payment: null };
  return { headline, payment: paymentWords(view, offsetMs) };
}
