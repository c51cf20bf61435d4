// The video check page (/static/video.html?show=SHOW#token=TOKEN): plays a show with
// player.js, times pins with overlay-scheduler.js and lists, for every timed event,
// the frame it appeared with. `?path=whep|janus|hls` plays over that path only,
// whatever the stream offers. What it measures is also left in `window.livecartVideo`
// for tests and support: the path in use, every marked frame's position in arrival
// order, every presented frame's position, and every timed event with where it fired.

import { createHubClient, PRESENTED_EVENTS } from "./hub-client.js";
import { createScheduler, eventPos } from "./overlay-scheduler.js";
import { watchShow } from "./player.js";

const params = new URLSearchParams(location.search);
const show = params.get("show") || "demo-show";
const PATHS = new Set(["whep", "janus", "hls"]);
const forced = PATHS.has(params.get("path")) ? params.get("path") : null;
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const $ = (id) => document.getElementById(id);
$("show-id").textContent = show;

const record = { path: null, forced, marked: [], presented: [], events: [] };
window.livecartVideo = record;
let onScreen = null;

const scheduler = createScheduler();
const player = watchShow(document.querySelector("video"), {
  show,
  token,
  scheduler,
  path: forced,
  onState: ({ state, message, path }) => {
    $("state").textContent = message ? `${state}: ${message}` : state;
    record.path = path;
    $("path").textContent = (path ?? "–") + (forced ? " (forced with ?path=)" : "");
  },
  observe: {
    marked(pos) {
      record.marked.push(pos);
      $("marked").textContent = record.marked.length;
    },
    presented(pos) {
      record.presented.push(pos);
      if (pos !== null) onScreen = pos;
      $("presented").textContent = record.presented.length;
      $("position").textContent = onScreen ?? "–";
      if (onScreen !== null) $("delay").textContent = `${Math.max(0, hub.serverNow() - onScreen)} ms`;
    },
  },
});

function framesLate(pos, shownAt) {
  const frames = record.marked;
  const ideal = frames.findIndex((p) => p >= pos);
  const actual = frames.indexOf(shownAt);
  return ideal < 0 || actual < 0 ? null : actual - ideal;
}

function show_(event) {
  const pin = $("pin");
  if (event.type === "pinned") {
    pin.textContent = `Pinned: ${event.data.product?.title ?? event.data.sku}`;
    pin.hidden = false;
  } else if (event.type === "unpinned") {
    pin.hidden = true;
  }
}

const hub = createHubClient({
  show,
  token,
  schedule(event, apply) {
    const pos = eventPos(event);
    const entry = { id: event.id, type: event.type, pos, shownAt: null, arrivedAt: onScreen };
    record.events.push(entry);
    scheduler.at(pos, () => {
      entry.shownAt = onScreen;
      apply();
      show_(event);
      const item = document.createElement("li");
      const late = entry.shownAt === null ? null : framesLate(pos, entry.shownAt);
      item.textContent =
        `${event.type} ${event.data?.sku ?? ""} at ${pos}: shown with frame ${entry.shownAt ?? "(no video)"}` +
        (late === null ? "" : `, ${late} frame${late === 1 ? "" : "s"} late`);
      $("log").prepend(item);
    });
  },
});

hub.subscribe((change, state) => {
  if (change.kind === "reset" && state.show?.stream) player.streamStarted(state.show.stream);
  if (change.kind === "event") {
    const event = change.event;
    if (event.type === "stream_started") player.streamStarted(event.data);
    if (event.type === "stream_ended") player.streamEnded(event.data);
    if (!PRESENTED_EVENTS.has(event.type)) return;
  }
});
