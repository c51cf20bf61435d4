// The moderator's hold on auctions and giveaways: the running auction (current bid,
// leader, time left by Redis' clock) with "Cancel auction" (a reason, asked in a
// dialog) and its bids as they come, each with "Remove" for the bidder who led; a
// bidder removed by user id; and the running giveaway with "Cancel giveaway".
// Bids come folded per tick (the latest per tick), so the feed is what this page saw;
// opened mid-auction, it starts from the show's bid list (HTTP, staff token).

import { timeLeft } from "../auctions.js";
import { api } from "../api.js";
import { countdown, h, money, showResult, timeOfDay } from "../format.js";
import { perform } from "../staff.js";

const TICK_MS = 500;
const FEED_LINES = 50;

export function mountAuctionModeration(section, { hub, token, show, cancelDialog }) {
  const $ = (selector) => section.querySelector(selector);
  const auctionState = $("#mod-auction-state");
  const cancelAuction = $("#mod-auction-cancel");
  const feed = $("#mod-bids");
  const feedNone = $("#mod-bids-none");
  const removeForm = $("#mod-remove-form");
  const removeUser = $("#mod-remove-user");
  const removeButton = removeForm.querySelector("button");
  const giveawayState = $("#mod-giveaway-state");
  const cancelGiveaway = $("#mod-giveaway-cancel");
  const result = $("#mod-auction-result");
  const reasonInput = cancelDialog.querySelector("input");
  const role = () => hub.state.you.role;
  let feedOf = null; // the auction the feed lines are of
  let loadedFrom = null; // the auction whose bid list was fetched
  let cancelling = null; // {kind, id, button} while the dialog asks
  let timer = null;
  const names = new Map(); // user id -> name, from the bids seen


  const auction = () => hub.state.show?.auction ?? null;
  const giveaway = () => hub.state.show?.giveaway ?? null;

  function line({ price, leader, leaderName, atMs, currency }) {
    const remove = h(
      "button",
      { type: "button", class: "lc-button lc-button--small", "data-user": leader },
      "Remove",
      h("span", { class: "lc-sr-only", text: ` ${leaderName || leader} from the auction` }),
    );
    remove.addEventListener("click", () => removeBidder(leader, remove, leaderName));
    return h(
      "li",
      { class: "mod-bid", "data-user": leader ?? "" },
      h("span", { class: "mod-bid__time lc-muted", text: atMs ? timeOfDay(atMs, hub.state.clockOffsetMs) : "" }),
      h("span", { class: "mod-bid__what" }, h("strong", { text: money(price, currency) }), ` ${leaderName || leader || ""}`),
      leader ? remove : null,
    );
  }

  function addLine(entry) {
    if (entry.leader && entry.leaderName) names.set(entry.leader, entry.leaderName);
    feed.prepend(line(entry));
    while (feed.children.length > FEED_LINES) feed.lastChild.remove();
    feedNone.hidden = feed.children.length > 0;
  }

  function resetFeed(view) {
    feedOf = view?.id ?? null;
    feed.replaceChildren();
    feedNone.hidden = false;
  }

  /** Opened mid-auction: the bids so far, from the show's bid list. */
  async function loadBids(view) {
    if (loadedFrom === view.id || !token) return;
    loadedFrom = view.id;
    try {
      const path = `/api/shows/${encodeURIComponent(show)}/auctions/${encodeURIComponent(view.id)}/bids`;
      const { bids } = await api(path, { token });
      if (feedOf !== view.id || feed.children.length) return; // live lines came meanwhile
      for (const bid of bids.slice(-FEED_LINES)) {
        const leaderName = bid.leader === bid.bidder ? bid.bidder_name : null;
        addLine({ price: bid.price, leader: bid.leader, leaderName, atMs: bid.at_ms, currency: view.currency });
      }
    } catch {
      // The list is a convenience: live bids still come as events.
    }
  }

  async function removeBidder(user, button, name = null) {
    const view = auction();
    if (!view || !user) return false;
    const who = name || user;
    return perform(
      button,
      result,
      `Removing ${who}…`,
      async () => {
        const reply = await hub.request("auction_remove_bidder", { auction: view.id, user });
        if (reply.auction) hub.learn("auction", reply.auction);
        return `${who} is out of the auction ✓`;
      },
      role,
    );
  }

  removeForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const user = removeUser.value.trim();
    if (!user) {
      removeUser.setAttribute("aria-invalid", "true");
      showResult(result, "refused", "Type the bidder's user id");
      return;
    }
    removeUser.removeAttribute("aria-invalid");
    if (await removeBidder(user, removeButton)) removeUser.value = "";
  });

  function ask(kind, button) {
    const view = kind === "auction" ? auction() : giveaway();
    if (!view) return;
    cancelling = { kind, id: view.id, button };
    cancelDialog.querySelector("h2").textContent = `Cancel the ${kind}?`;
    cancelDialog.querySelector("button[value=confirm]").textContent = `Cancel the ${kind}`;
    reasonInput.value = "";
    cancelDialog.returnValue = "";
    cancelDialog.showModal();
  }

  cancelAuction.addEventListener("click", () => ask("auction", cancelAuction));
  cancelGiveaway.addEventListener("click", () => ask("giveaway", cancelGiveaway));

  cancelDialog.addEventListener("close", async () => {
    const pending = cancelling;
    cancelling = null;
    if (!pending || cancelDialog.returnValue !== "confirm") return;
    const reason = reasonInput.value.trim();
    const fields = { [pending.kind]: pending.id };
    if (reason) fields.reason = reason;
    await perform(
      pending.button,
      result,
      `Cancelling the ${pending.kind}…`,
      async () => {
        await hub.request(`${pending.kind}_cancel`, fields);
        return `The ${pending.kind} is cancelled ✓ Viewers see it`;
      },
      role,
    );
    render();
  });

  function render() {
    const view = auction();
    const now = hub.serverNow();
    const running = view?.state === "running";
    if (view && view.id !== feedOf) resetFeed(view);
    if (running) loadBids(view);
    if (!view) auctionState.textContent = "No auction yet";
    else if (running) {
      const left = timeLeft(view, now);
      const price = view.bids ? `${money(view.price, view.currency)} by ${view.leader_name || view.leader}` : `no bids (starts at ${money(view.start_price, view.currency)})`;
      auctionState.textContent = `${view.title}: ${price}, ${left > 0 ? `${countdown(left)} left` : "closing"}`;
    } else {
      const words = { ended: "ended", unsold: "ended unsold", cancelled: "cancelled" }[view.state] ?? view.state;
      auctionState.textContent = `${view.title}: ${words}`;
    }
    section.dataset.auction = view?.state ?? "none";
    if (cancelAuction.getAttribute("aria-busy") !== "true") cancelAuction.disabled = !running;
    if (removeButton.getAttribute("aria-busy") !== "true") removeButton.disabled = !running;
    for (const button of feed.querySelectorAll("button")) button.hidden = !running;

    const g = giveaway();
    const giving = g?.state === "running";
    if (!g) giveawayState.textContent = "No giveaway yet";
    else if (giving) {
      const left = timeLeft(g, now);
      giveawayState.textContent = `${g.title}: ${g.entrants ?? 0} entered, ${left > 0 ? `${countdown(left)} left` : "drawing"}`;
    } else {
      const words = { drawn: `${g.winner_name || g.winner} won`, no_entrants: "nobody entered", cancelled: "cancelled" }[g.state] ?? g.state;
      giveawayState.textContent = `${g.title}: ${words}`;
    }
    if (cancelGiveaway.getAttribute("aria-busy") !== "true") cancelGiveaway.disabled = !giving;

    const ticking = running || giving;
    if (ticking && !timer) timer = setInterval(render, TICK_MS);
    if (!ticking && timer) {
      clearInterval(timer);
      timer = null;
    }
  }

  hub.subscribe((change) => {
    const view = auction();
    if (view && view.id !== feedOf) resetFeed(view);
    if (change.kind === "event") {
      const { type, data } = change.event;
      if (type === "bid" && view && data.auction === view.id) {
        addLine({ price: data.price, leader: data.leader, leaderName: data.leader_name, atMs: data.at_ms, currency: view.currency });
      }
      if (type === "auction_bidder_removed" && view && data.auction === view.id) {
        for (const li of feed.querySelectorAll(`li[data-user="${CSS.escape(data.user)}"]`)) {
          li.classList.add("is-removed");
          li.querySelector("button")?.remove();
        }
        const who = names.get(data.user) ?? data.user;
        const now = data.leader ? `${money(data.price, view.currency)} by ${data.leader_name || data.leader}` : "no bids";
        feed.prepend(h("li", { class: "mod-bid mod-bid--note", text: `${who} removed: now ${now}` }));
      }
    }
    render();
  });
  render();
}
