// The landing page: shows live now (most watched first) and the ones coming (soonest
// first), each opening the viewer page. Read from the public GET /api/shows listing.

import { api } from "./api.js";
import { dateTime, h } from "./format.js";
import { say } from "./messages.js";

const REFRESH_MS = 30_000;
const $ = (selector) => document.querySelector(selector);

function card(show) {
  const live = show.state === "live";
  const when = live
    ? `${show.viewers} watching`
    : show.scheduled_at_ms
      ? `Starts ${dateTime(show.scheduled_at_ms)}`
      : "Not scheduled yet";
  return h(
    "li",
    {},
    h(
      "a",
      { class: "show-card", href: `/shows/${encodeURIComponent(show.id)}` },
      h("p", {}, h("span", { class: live ? "lc-badge lc-badge--live" : "lc-badge", text: live ? "Live" : "Soon" })),
      h("h3", { class: "show-card__title", text: show.title }),
      h("p", { class: "show-card__meta", text: show.creator ? `with ${show.creator_name ?? show.creator}` : `by ${show.brand}` }),
      h("p", { class: "show-card__meta", text: when }),
      h("span", { class: "lc-button lc-button--primary show-card__cta", text: live ? "Watch" : "Open" }),
    ),
  );
}

async function all(state) {
  const items = [];
  let after = null;
  do {
    const page = await api("/api/shows", { query: { state, after, limit: 200 } });
    items.push(...page.items);
    after = page.next;
  } while (after && items.length < 200);
  return items;
}

function fill(list, empty, shows) {
  list.replaceChildren(...shows.map(card));
  list.removeAttribute("aria-busy");
  empty.hidden = shows.length > 0;
}

async function load() {
  try {
    const [live, next] = await Promise.all([all("live"), all("scheduled")]);
    live.sort((a, b) => b.viewers - a.viewers || (b.started_at_ms ?? 0) - (a.started_at_ms ?? 0));
    next.sort((a, b) => (a.scheduled_at_ms ?? Infinity) - (b.scheduled_at_ms ?? Infinity));
    fill($("#live-shows"), $("#live-empty"), live);
    fill($("#next-shows"), $("#next-empty"), next);
    $("#landing-error").hidden = true;
  } catch (error) {
    $("#landing-error").hidden = false;
    $("#landing-error").textContent = say(error.code);
  }
}

load();
setInterval(load, REFRESH_MS);
