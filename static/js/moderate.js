// The moderator page, /moderate/{show}#token=MODERATOR_TOKEN: the chat with Delete, Mute
// and Ban on each message, sales paused and resumed with a reason, slow mode, blocked
// words, who is muted or banned, and the running auction or giveaway (cancel it, remove
// a bidder). One hub client; every part renders from its state and says each tap's
// outcome in place.

import { mountChat } from "./chat.js";
import { createHubClient } from "./hub-client.js";
import { mountAuctionModeration } from "./moderate/auctions.js";
import { createLineActions } from "./moderate/chat-actions.js";
import { mountKeywords, mountSales, mountSlowMode } from "./moderate/controls.js";
import { mountPeople } from "./moderate/people.js";
import { takeFragmentToken } from "./session.js";
import { mountStaffHeader } from "./staff.js";

const $ = (selector) => document.querySelector(selector);

const show = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] ?? "");
const token = takeFragmentToken(); // the moderator link's, kept for this tab
const hub = createHubClient({ show, token });

mountStaffHeader({ hub, kind: "Moderation" });
mountSales($("#sales-panel"), { hub });
mountChat($("#chat"), {
  hub,
  signIn: async () => false, // staff always have a token here; without one the page says so
  lineActions: createLineActions({
    hub,
    muteFor: () => Number($("#mute-for").value),
    banDialog: $("#ban-dialog"),
  }),
});
mountSlowMode($("#slow-panel"), { hub });
mountKeywords($("#keywords-panel"), { hub });
mountPeople($("#people-panel"), { hub });
mountAuctionModeration($("#auctions-panel"), { hub, token, show, cancelDialog: $("#cancel-dialog") });

// For tests and support: the page's client, read-only by convention.
window.livecart = { hub };
