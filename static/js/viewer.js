// The viewer page, /shows/{show} (also a creator's share link, ?ref=CREATOR): wires the
// parts to one hub client. Every part renders from the hub's state; every action shows
// its outcome in place.

import { api } from "./api.js";
import { mountAuctionCard } from "./auction-card.js";
import { mountCart, createCart } from "./cart.js";
import { createActions } from "./buy.js";
import { createCardSetup } from "./card-setup.js";
import { mountChat } from "./chat.js";
import { mountFlash } from "./flash.js";
import { dateTime } from "./format.js";
import { mountGiveawayCard } from "./giveaway-card.js";
import { createHubClient } from "./hub-client.js";
import { mountLineup } from "./lineup.js";
import { say } from "./messages.js";
import { mountProductCard } from "./product-card.js";
import { mountReactions } from "./reactions.js";
import { buyerToken, forgetBuyerToken, takeFragmentToken } from "./session.js";
import { createSignup } from "./signup.js";
import { mountTicker } from "./ticker.js";
import { mountVideo } from "./video.js";

const ID = /^[A-Za-z0-9_.@+-]{1,64}$/;
const $ = (selector) => document.querySelector(selector);

const show = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] ?? "");
const refParam = new URLSearchParams(location.search).get("ref");
const ref = refParam && ID.test(refParam) ? refParam : null; // a share link's creator
const embedToken = takeFragmentToken(); // an embedding site's own user, for this tab
const banner = $("#connection");
let notice = ""; // a note about the sign-in, shown while the connection is fine

const video = mountVideo($(".video-area"), { show, token: embedToken || buyerToken() });
const hub = createHubClient({
  show,
  token: embedToken || buyerToken(),
  schedule: video.schedule,
  // A buyer's token that expired: forget it and go on watching; Buy asks again.
  renewToken: async (code) => {
    if (!embedToken) forgetBuyerToken();
    notice = say(code);
    renderAccount();
    return null;
  },
});

const signup = createSignup($("#signup-dialog"), {
  onToken(token) {
    notice = "";
    hub.setToken(token);
    renderAccount();
    cart.refresh();
  },
});
const signIn = async () => Boolean(hub.token) || signup.ask();
const cart = createCart({ hub });
const cardSetup = createCardSetup({ token: () => hub.token });
const actions = createActions({ hub, cart, signIn, ref, setUpCard: cardSetup.ask });

mountProductCard($("#pinned"), { hub, actions });
mountLineup($("#lineup-dialog"), { hub, actions, button: $("#bag-button") });
mountCart($("#cart-dialog"), { hub, cart, actions, button: $("#cart-button") });
mountChat($("#chat"), { hub, signIn });
mountReactions($(".reactions"), {
  hub,
  layer: $(".floating-layer"),
  result: $(".reactions-result"),
  signIn,
});
mountFlash($("#flash"), { hub });
mountTicker($("#ticker"), { hub });
mountAuctionCard($("#auction"), { hub, signIn, setUpCard: cardSetup.ask });
mountGiveawayCard($("#giveaway"), { hub, signIn });

// --- the show's header, sales and connection banners ------------------------------

let creatorLoaded = null;

function renderHeader(state) {
  const s = state.show;
  if (!s) return;
  $("#show-title").textContent = s.title;
  document.title = `${s.title} · livecart`;
  const badge = $("#live-badge");
  badge.classList.toggle("lc-badge--live", s.state === "live");
  if (s.state === "live") badge.textContent = "Live";
  else if (s.state === "ended") badge.textContent = "Ended";
  else if (s.scheduled_at_ms) badge.textContent = `Starts ${dateTime(s.scheduled_at_ms, state.clockOffsetMs)}`;
  else badge.textContent = "Not live yet";
  const viewers = state.viewers;
  $("#viewers").hidden = s.state !== "live";
  $("#viewers-count").textContent = String(viewers);
  if (!s.creator) {
    $("#seller").textContent = s.brand; // a brand's own show: no creator to name
  } else if (creatorLoaded !== s.creator) {
    creatorLoaded = s.creator;
    $("#seller").textContent = s.creator;
    api(`/api/creators/${encodeURIComponent(s.creator)}`)
      .then((creator) => {
        $("#seller").textContent = creator.name;
      })
      .catch(() => {}); // the id stays: still the seller, only less friendly
  }
  const sales = $("#sales-banner");
  sales.hidden = s.sales !== "paused";
  sales.textContent = s.sales === "paused" ? `${say("sales_paused")}${s.sales_reason ? `: ${s.sales_reason}` : ""}` : "";
}

function renderConnection(state) {
  let text = "";
  if (state.status === "reconnecting") text = "Connection lost. Reconnecting…";
  if (state.status === "stopped" && state.stopped) text = say(state.stopped.code);
  if (!text && notice) text = notice;
  banner.hidden = !text;
  banner.textContent = text;
  document.body.dataset.connection = state.status;
}

function renderAccount() {
  const button = $("#account-button");
  button.setAttribute("aria-label", hub.token ? "Your details" : "Sign up");
  button.classList.toggle("is-signed-in", Boolean(hub.token));
}

$("#account-button").addEventListener("click", async () => {
  if (!hub.token) {
    await signIn();
    return;
  }
  try {
    await signup.edit(hub.token);
  } catch (error) {
    notice = say(error.code);
    renderConnection(hub.state);
  }
});

let first = true;
hub.subscribe((change, state) => {
  renderHeader(state);
  renderConnection(state);
  renderAccount();
  if (state.status === "stopped") video.stop(); // removed, or no such show: no video either
  if (change.kind === "reset" || change.kind === "resumed") {
    if (first) {
      first = false;
      performance.mark("livecart:hello");
      cart.refresh();
    }
    if (change.kind === "reset" && state.show?.stream) video.streamStarted(state.show.stream);
  }
  if (change.kind === "event" && change.event.type === "stream_started") video.streamStarted(change.event.data);
  if (change.kind === "event" && change.event.type === "stream_ended") video.streamEnded(change.event.data);
});
renderAccount();

// For tests and support: the page's client, read-only by convention.
window.livecart = { hub };
