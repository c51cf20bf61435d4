// The show's auction and giveaway in the hub client's state (docs/protocol.md, "Auctions
// and giveaways"): `show.auction` and `show.giveaway` hold the current or latest one's
// view, and each event moves it on. A reply's view (a bid's, an entry's) may be ahead of
// the events, which come folded per tick: `newerView` says which of two views is newer,
// so the state never goes back.

const FINAL = new Set(["ended", "unsold", "cancelled", "drawn", "no_entrants"]);

/** Whether `view` says more than `current` about a show's auction (or giveaway): another,
 * later one; or the same one further on (ended, or more bids or entrants). */
export function newerView(current, view) {
  if (!current || current.id !== view.id) return !current || (view.started_ms ?? 0) >= (current.started_ms ?? 0);
  if (FINAL.has(current.state) && !FINAL.has(view.state)) return false;
  if (FINAL.has(view.state) && !FINAL.has(current.state)) return true;
  return (view.bids ?? view.entrants ?? 0) >= (current.bids ?? current.entrants ?? 0);
}

/** The show's auction (or giveaway) with this id, or null (an event of an older one). */
function currentOf(show, kind, id) {
  const view = show[kind];
  return view && view.id === id ? view : null;
}

/** Auction and giveaway events (docs/protocol.md): each changes the show's current one. */
export function applyAuctionEvent(show, type, d) {
  const auction = type.startsWith("giveaway") ? null : currentOf(show, "auction", d.auction);
  const giveaway = type.startsWith("giveaway") ? currentOf(show, "giveaway", d.giveaway) : null;
  switch (type) {
    case "auction_started":
      show.auction = { ...d.auction };
      break;
    case "bid":
      // Folded per tick, and a reply's view may be ahead of it: never go back.
      if (auction && auction.state === "running" && (d.bids ?? 0) >= (auction.bids ?? 0)) {
        const { price, leader, leader_name, bids, bidders, ends_ms, next_bid } = d;
        Object.assign(auction, { price, leader, leader_name, bids, bidders, ends_ms, next_bid });
      }
      break;
    case "auction_extended":
      if (auction) auction.ends_ms = d.ends_ms;
      break;
    case "auction_ended":
      if (auction) {
        Object.assign(auction, {
          state: d.winner ? "ended" : "unsold",
          winner: d.winner ?? null,
          winner_name: d.winner_name ?? null,
          price: d.price ?? auction.price,
          bids: d.bids ?? auction.bids,
          ended_ms: d.ended_ms ?? null,
        });
      }
      break;
    case "auction_cancelled":
      if (auction) Object.assign(auction, { state: "cancelled", cancel_reason: d.reason ?? null });
      break;
    case "auction_bidder_removed":
      if (auction) {
        const { price, leader, leader_name, next_bid, bids } = d;
        Object.assign(auction, { price, leader, leader_name, next_bid, bids });
        if (d.bidders !== undefined) auction.bidders = d.bidders;
      }
      break;
    case "auction_status": // staff only: how the winner's payment (or an offer) went
      if (auction) auction.status = { ...d };
      if (auction && d.name) auction.payee = { user: d.user, name: d.name }; // an offer names them
      if (auction && ["charging", "paid", "unpaid", "offered"].includes(d.payment)) auction.payment = d.payment;
      if (auction && d.order) auction.order = d.order;
      break;
    case "giveaway_started":
      show.giveaway = { ...d.giveaway };
      break;
    case "giveaway_entries":
      if (giveaway) giveaway.entrants = Math.max(giveaway.entrants ?? 0, d.entrants ?? 0);
      break;
    case "giveaway_ended":
      if (giveaway) {
        Object.assign(giveaway, {
          state: d.winner ? "drawn" : "no_entrants",
          winner: d.winner ?? null,
          winner_name: d.winner_name ?? null,
          entrants: d.entrants ?? giveaway.entrants,
          ended_ms: d.ended_ms ?? null,
          payment: null, // a redraw starts the payment again
          status: null,
        });
      }
      break;
    case "giveaway_redrawn": // the winner's payment failed: another entrant drawn
      if (giveaway) {
        Object.assign(giveaway, { winner: d.winner ?? null, winner_name: d.winner_name ?? null, payment: "charging", status: null });
      }
      break;
    case "giveaway_cancelled":
      if (giveaway) Object.assign(giveaway, { state: "cancelled", cancel_reason: d.reason ?? null });
      break;
    case "giveaway_status":
      if (giveaway) giveaway.status = { ...d };
      if (giveaway && ["charging", "paid", "unpaid"].includes(d.payment)) giveaway.payment = d.payment;
      if (giveaway && d.order) giveaway.order = d.order;
      break;
    default:
      break;
  }
}
