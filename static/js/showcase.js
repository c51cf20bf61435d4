// A creator's showcase (/c/{creator}): their picks with price and, for what their live
// show sells, the live stock and show price from the hub; their live show with a link
// that credits them; and share links to their live and coming shows, with a copy button.

import { api } from "./api.js";
import { copyButton } from "./copy.js";
import { dateTime, h, money } from "./format.js";
import { createHubClient } from "./hub-client.js";
import { say } from "./messages.js";
import { offer } from "./pricing.js";
import { PLACEHOLDER_IMAGE } from "./product-card.js";

const $ = (id) => document.getElementById(id);
const LOW_STOCK = 5;
const COMING_SHOWN = 5;
const HUB_STATUS = {
  connecting: "Connecting to the show…",
  live: "",
  reconnecting: "Reconnecting to the show… stock shown may be a moment old.",
};

const creator = decodeURIComponent(location.pathname.split("/")[2] || "");
const cards = new Map(); // sku -> {price, stock, link}: the parts of a card that change
let hub = null;
let liveShow = null;

function watchUrl(show) {
  return `/shows/${encodeURIComponent(show)}?ref=${encodeURIComponent(creator)}`;
}

function fail(error) {
  const banner = $("showcase-error");
  banner.textContent = error.code === "not_found" && error.field === "creator"
    ? "There is no creator here. Check the link."
    : say(error.code);
  banner.hidden = false;
}

function productCard(product) {
  const image = h("img", { class: "sc-product__image", alt: "", src: product.image_url || PLACEHOLDER_IMAGE, loading: "lazy", width: 320, height: 320 });
  image.addEventListener("error", () => {
    if (!image.src.endsWith(PLACEHOLDER_IMAGE)) image.src = PLACEHOLDER_IMAGE;
  });
  const price = h("p", { class: "sc-product__price" }, money(product.price, product.currency));
  const stock = h("p", { class: "sc-product__stock lc-muted" }, "Not in a live show right now");
  const link = h("a", { class: "lc-button", href: "/", hidden: true }, "Buy in the live show");
  cards.set(product.sku, { product, price, stock, link });
  return h(
    "li",
    {},
    h("article", { class: "lc-card sc-product", "data-sku": product.sku }, image, h("h3", {}, product.title), price, stock, link),
  );
}

/** Price and stock of every pick that the live show sells, from the hub's state. */
function renderLive() {
  const state = hub?.state;
  const show = state?.show;
  let status = HUB_STATUS[state?.status] ?? "";
  if (state?.status === "stopped") status = `Live stock stopped: ${say(state.stopped?.code)}`;
  if (show?.state === "ended") status = "The show has just ended.";
  $("live-status").textContent = status;
  for (const [sku, card] of cards) {
    const item = show?.state === "live" ? state.lineup.get(sku) : null;
    if (!item) {
      card.price.textContent = money(card.product.price, card.product.currency);
      card.stock.textContent = "Not in a live show right now";
      card.stock.className = "sc-product__stock lc-muted";
      delete card.stock.dataset.kind;
      card.link.hidden = true;
      continue;
    }
    const { price, was } = offer(item, show.flash_sale, hub.serverNow());
    card.price.replaceChildren(
      money(price, item.currency),
      ...(was === null ? [] : [" ", h("s", { class: "lc-muted" }, money(was, item.currency)), " flash sale"]),
    );
    card.stock.className = "sc-product__stock";
    if (item.stock <= 0) {
      card.stock.textContent = say("sold_out");
      card.stock.dataset.kind = "out";
    } else {
      card.stock.textContent = `${item.stock} left in the live show`;
      card.stock.dataset.kind = item.stock <= LOW_STOCK ? "low" : "ok";
    }
    card.link.href = watchUrl(liveShow.id);
    card.link.hidden = false;
  }
}

async function shareLink(show) {
  const link = await api(`/api/creators/${encodeURIComponent(creator)}/share-link`, { query: { show: show.id } });
  const id = `share-${show.id}`;
  const input = h("input", { id, class: "lc-input", readonly: true, value: link.url });
  const label = show.state === "live"
    ? `${show.title}, live now`
    : `${show.title}, ${show.scheduled_at_ms ? dateTime(show.scheduled_at_ms) : "coming soon"}`;
  return h("li", { class: "lc-field" }, h("label", { for: id }, label), h("div", { class: "sc-link-row" }, input, copyButton(input, "Copy link")));
}

async function showShows() {
  const query = (state, limit) => api("/api/shows", { query: { creator, state, limit } });
  const [live, coming] = await Promise.all([query("live", 1), query("scheduled", COMING_SHOWN)]);
  liveShow = live.items[0] ?? null;
  const shows = [...live.items, ...coming.items];
  if (shows.length) {
    $("share-links").replaceChildren(...(await Promise.all(shows.map(shareLink))));
    $("links").hidden = false;
  }
  if (!liveShow) return;
  $("live-title").textContent = liveShow.title;
  $("live-watch").href = watchUrl(liveShow.id);
  $("live").hidden = false;
  hub = createHubClient({ show: liveShow.id });
  hub.subscribe(renderLive);
  renderLive();
}

async function start() {
  try {
    const profile = await api(`/api/creators/${encodeURIComponent(creator)}`);
    document.title = `${profile.name} · livecart`;
    $("creator-name").textContent = `${profile.name}'s picks`;
    const showcase = await api(`/api/creators/${encodeURIComponent(creator)}/showcase`);
    $("products").replaceChildren(...showcase.items.map(productCard));
    $("products-empty").hidden = showcase.items.length > 0;
    $("products").removeAttribute("aria-busy");
    await showShows();
  } catch (error) {
    $("products").removeAttribute("aria-busy");
    fail(error);
  }
}

start();
