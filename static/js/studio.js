// The studio, /studio/{show}#token=STREAMER_TOKEN: the streamer's page. It wires the
// studio's parts to one hub client: the camera and going live, OBS details, the live
// figures, the lineup with Pin / Unpin, flash sales, auctions, giveaways and the chat. Every part renders
// from the hub's state; every action says its outcome in place.

import { mountChat } from "./chat.js";
import { createHubClient } from "./hub-client.js";
import { takeFragmentToken } from "./session.js";
import { mountStaffHeader } from "./staff.js";
import { mountAuctionControl } from "./studio/auction.js";
import { mountCamera } from "./studio/camera.js";
import { mountFigures } from "./studio/figures.js";
import { mountFlashControl } from "./studio/flash-sale.js";
import { mountGiveawayControl } from "./studio/giveaway.js";
import { mountLineupTable } from "./studio/lineup.js";
import { mountObs } from "./studio/obs.js";
import { createSalesTally } from "./studio/sales.js";

const $ = (selector) => document.querySelector(selector);

const show = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] ?? "");
const token = takeFragmentToken(); // the studio link's, kept for this tab
const hub = createHubClient({ show, token });
const tally = createSalesTally(hub); // first: the parts below read what it counted

mountStaffHeader({ hub, kind: "Studio" });
mountCamera($("#camera-panel"), { hub, show, token, endDialog: $("#end-dialog") });
mountObs($("#obs-panel"), { hub, show, token });
mountFigures($("#figures-panel"), { hub, tally });
mountLineupTable($("#lineup-panel"), { hub, tally });
mountFlashControl($("#flash-panel"), { hub });
mountAuctionControl($("#auction-panel"), { hub });
mountGiveawayControl($("#giveaway-panel"), { hub });
// Staff always have a token here; a page without one is told it needs its link.
mountChat($("#chat"), { hub, signIn: async () => false });

// For tests and support: the page's client, read-only by convention.
window.livecart = { hub, tally };
