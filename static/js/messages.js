// The words a person reads for every code the server answers with (docs/protocol.md,
// docs/api*.md) and for the page's own states. A raw code never reaches the screen:
// `say(code)` falls back to a general sentence for a code this table does not know.
// Pages of other parts add their entries here.

export const MESSAGES = {
  // A buy, a checkout or a cart change that did not go through.
  sold_out: "Sold out",
  limit_reached: "You've reached the limit for this item",
  sales_paused: "Sales are paused right now",
  // A moderator banned this person: a buy, a cart change, a chat message and the page's
  // connection all answer with it (tests/browser/test_viewer.py reads this sentence).
  banned: "You were removed from this show",
  not_live: "The show isn't live, so nothing can be bought now",
  not_in_lineup: "This item isn't sold in this show",
  price_changed: "The price just changed. Check it and tap again",
  flash_ended: "The flash sale has ended",
  flash_not_started: "The flash sale hasn't started yet",
  payment_declined: "Your payment was declined",
  card_required: "Add a card to buy with one tap",
  card_loading: "Loading the secure card form…",
  card_saving: "Saving your card…",
  card_setup_unavailable: "Cards can't be added on this site right now",
  stripe_js_unavailable: "The secure card form (Stripe) couldn't load. Check your connection and try again; nothing was charged",
  payment_error: "The payment didn't go through. Nothing was charged; try again",
  hold_expired: "That took too long. Nothing was charged; try again",
  in_progress: "Still being confirmed…",
  cart_empty: "Your cart is empty",
  cart_full: "Your cart is full. Check out first",
  currency_mismatch: "A cart takes one currency. Check out first",
  not_in_cart: "That item isn't in your cart",
  idempotency_conflict: "That tap was already used for another order. Tap again",

  // Moving an order on (the merchant console, docs/api-orders.md "Order lifecycle").
  invalid_transition: "The order's status doesn't allow that",
  refund_exceeds_paid: "That's more than is left to refund",
  nothing_to_refund: "Nothing of this order is left to refund",
  too_many_refunds: "This order has had 20 refunds, the most one may have. Refund what is left at once",
  refund_in_progress: "Another refund of this order is being made right now. Try again in a moment",
  order_too_large: "This order is too large to be changed",
  // payment_error of a refund: the provider did not refund, and nothing was recorded.
  refund_failed: "The payment provider didn't make the refund. Nothing was recorded; try again with the same amount",

  // Auctions and giveaways (a bid's result, an entry, a second-chance offer).
  bid_too_low: "Someone bid first",
  auction_ended: "This auction has ended",
  auction_cancelled: "This auction was cancelled",
  already_leading: "You're already the highest bidder",
  removed_from_auction: "A moderator removed you from this auction",
  card_required_to_bid: "Add a card to bid",
  offer_expired: "This offer has expired",
  not_offered: "This offer isn't for you any more",
  giveaway_ended: "This giveaway has ended",
  giveaway_cancelled: "This giveaway was cancelled",
  auction_running: "An auction is already on. Wait for it to end",
  giveaway_running: "A giveaway is already on. Wait for it to end",
  giveaway_full: "This giveaway has all the entries it can take",
  // Why a winner's payment failed, as the studio says it ("Maya's payment failed: …").
  winner_payment_declined: "their card was declined",
  winner_card_required: "they have no card on file",
  winner_payment_error: "the payment provider didn't answer",
  no_runner_up: "Nobody else is left to offer it to",
  no_entrants_left: "Every entrant has been drawn: nobody is left",
  not_running: "It isn't running any more (it ended or was cancelled)",
  not_bidder: "That user hasn't bid in this auction",
  not_unpaid: "The winner's payment hasn't failed, so there is nothing to do",

  // Chat and reactions.
  muted: "You are muted in this chat",
  blocked_keyword: "Your message has a word this show doesn't allow",
  slow_mode: "Slow mode is on. Wait a moment before your next message",
  message_not_found: "That message is no longer there",

  // Who you are.
  token_missing: "Sign up to do that",
  token_invalid: "Your sign-in isn't valid any more. Sign up again",
  token_expired: "Your sign-in has expired. Sign up again",
  unauthenticated: "Sign in to do that",
  api_key_invalid: "That API key isn't right",
  forbidden: "You're not allowed to do that here",

  // Running a show (staff pages).
  show_ended: "The show has ended",
  flash_running: "A flash sale is already on. End it first",
  not_enough_stock: "There isn't enough stock for that",
  in_lineup: "That product is already in the lineup",
  conflict: "That clashes with a change made meanwhile. Reload and try again",
  not_staff: "This page is for the show's staff, and you're signed in as a viewer. Open it with a staff link",
  staff_link_needed: "This page needs its staff link: open the link you were given (it signs you in)",
  staff_token_invalid: "This staff link isn't valid. Ask for a new one",
  staff_token_expired: "This staff link has expired. Ask for a new one",
  moderator_forbidden: "A moderator can't do that: only the show's streamer can",

  // Going live (the studio's camera, docs/video.md).
  codec_unsupported: "This browser can't send video livecart can forward. Stream from OBS in H.264",
  no_video: "There's no video to send. Choose a camera",
  ingest_cap: "This server carries as many live videos as it can. Try again in a minute",
  media_disabled: "Video is turned off on this server",
  camera_denied: "The browser may not use the camera or microphone. Allow them in the site's settings, then choose the camera again",
  camera_missing: "No camera or microphone was found. Connect one, or stream from OBS",
  camera_busy: "The camera is in use by another app. Close it, then choose the camera again",
  camera_error: "The camera didn't start. Choose it again, or stream from OBS",
  camera_insecure: "The camera works only on a secure (https) address. Stream from OBS instead",

  // Requests and the connection.
  invalid: "Something in that wasn't accepted",
  bad_json: "The page sent something the server couldn't read. Reload the page",
  unknown_type: "The page asked for something the server doesn't know. Reload the page",
  not_found: "Not found",
  rate_limited: "That was too fast. Try again in a moment",
  busy: "Still working on your earlier taps. Wait a moment",
  store_unavailable: "The shop didn't answer. Try again",
  unavailable: "That isn't available on this server right now",
  network: "Can't reach the server. Check your connection",
  connection_lost: "The connection dropped before an answer came. Try again",
  protocol_mismatch: "This page is out of date. Reload it",
  removed: "You were removed from this show",
  show_missing: "This show doesn't exist",
  wrong_show: "Your sign-in is for another show",
  server_error: "Something went wrong on the server. Try again",
};

const FALLBACK = "Something went wrong. Try again";

/** The words for `code`; `fallback` (or a general sentence) for a code not in the table. */
export function say(code, fallback) {
  return (code && MESSAGES[code]) || fallback || FALLBACK;
}
