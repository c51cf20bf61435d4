// Plays a show's video into a <video> and tells the overlay scheduler which stream
// position is on screen, over whichever path the show offers.
//
// The stream data (the snapshot's `show.stream`, or a `stream_started` event) lists in
// `play` the ways this stream can be watched, in the order to try them: "whep" (the
// livecart node forwards the frames, player-whep.js), "janus" (a Janus instance fed by
// the ingest node, player-janus.js) and "hls" (fMP4 segments, player-hls.js). A path
// that refuses for load (503 viewer_cap, 503 janus_unavailable), that fails to connect
// twice, or whose frames stop for FRAME_SILENCE_MS while the stream is live gives way
// to the next; a new stream starts again from the first. A Janus instance that drops
// the session (it died) is avoided on the next try, which lands on another instance.
//
// Every path knows the position of the picture on screen, frame by frame (the frames
// carry livecart's SEI markers; see marker-worker.js and player-hls.js), and the
// player hands it to the scheduler in requestVideoFrameCallback. Without markers
// (VP8) or without those APIs, the scheduler is told there is nothing to wait for and
// events show at once.

import { openHls } from "./player-hls.js";
import { openJanus } from "./player-janus.js";
import { createMarkerReader, PathRefused } from "./player-webrtc.js";
import { openWhep } from "./player-whep.js";

const OPENERS = { whep: openWhep, janus: openJanus, hls: openHls };
const WEBRTC = new Set(["whep", "janus"]);
const MAX_BACKOFF_MS = 15_000;
const FRAME_SILENCE_MS = 3000; // a live WebRTC path with no frame for this long has failed
const FRESH_SILENCE_MS = 1500; // a new stream over a kept connection: no frame this long
const FIRST_FRAME_MS = 8000; // a connection's first frame may wait this long (a keyframe)
const CONNECT_TIMEOUT_MS = 10_000; // a WebRTC path not connected by then has failed
const FAILURES_PER_PATH = 2; // connection failures before the next path is tried

const hasFrameCallback =
  typeof HTMLVideoElement !== "undefined" && "requestVideoFrameCallback" in HTMLVideoElement.prototype;

/**
 * `watchShow(video, {show, token, scheduler, onState, base, observe, path})` returns
 * {stop(), streamStarted(data), streamEnded(data), stats()}. `onState({state, message,
 * path})` with state waiting | connecting | playing | ended | error and the path in use
 * (whep | janus | hls, or null). `path` (optional) forces one path whatever the stream
 * offers, for tests and support. `observe` (optional, for diagnostics) gets
 * `marked(pos, time)` for each marked frame received (time: on HLS, the frame's time
 * on the video's timeline, in seconds) and `presented(pos, meta)` for each frame on
 * screen (pos null when it carries no marker; meta is the frame callback's).
 */
export function watchShow(
  video,
  { show, token = null, scheduler, onState = () => {}, base = "", observe = null, path: forced = null },
) {
  let wanted = null; // the stream we want to be playing (its data), or null
  let session = null; // the open path's session
  let ticket = null; // the current attempt's token: a stale attempt's outcomes are dropped
  let pathIndex = 0;
  let failures = 0; // consecutive failures of the current path
  let avoid = null; // the Janus instance that dropped us
  let attempt = 0; // backoff exponent, reset by a picture on screen
  let retryTimer = null;
  let freshTimer = null; // checks that a new stream's frames come over a kept connection
  let stopped = false;
  let lastFrameAt = 0;
  let showing = false; // a frame of the current session has been presented
  let playingSession = null;
  let current = null; // the path in use
  const counters = { marked: 0, presented: 0, matched: 0 };

  function marked(pos, time) {
    counters.marked += 1;
    observe?.marked?.(pos, time);
  }
  const markers = createMarkerReader({ onMarked: marked });

  function say(state, message) {
    onState({ state, message, path: current });
  }

  function paths() {
    if (forced) return [forced];
    const offered = (wanted?.play ?? ["whep"]).filter((p) => p in OPENERS);
    return offered.length ? offered : ["whep"];
  }

  function onFrame(_now, meta) {
    if (stopped) return;
    video.requestVideoFrameCallback(onFrame);
    if (!session) return;
    lastFrameAt = performance.now();
    counters.presented += 1;
    if (!showing && session.connected()) {
      showing = true;
      attempt = 0;
      failures = 0;
      say("playing"); // a picture on screen, not merely a connection
    }
    const pos = session.positionOf(meta);
    observe?.presented?.(pos ?? null, meta);
    if (pos !== undefined) {
      counters.matched += 1;
      scheduler?.presented(pos);
    } else if (!session.marked()) {
      scheduler?.streamless(); // frames without markers: nothing to wait for
    }
  }

  function teardown() {
    clearTimeout(retryTimer);
    clearTimeout(freshTimer);
    retryTimer = null;
    ticket = null;
    session?.close();
    session = null;
    playingSession = null;
    showing = false;
    markers.clear();
  }

  function retryLater(ms) {
    clearTimeout(retryTimer);
    if (stopped || !wanted) return;
    const delay = ms || Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt += 1;
    retryTimer = setTimeout(connect, delay);
  }

  /** The current path failed (to connect, or while playing): again, or the next. */
  function failed(reason) {
    failures += 1;
    if (failures >= FAILURES_PER_PATH) nextPath(reason);
    else {
      say("connecting");
      retryLater();
    }
  }

  /**
   * On to the next path; after the last, back to the first after a pause (the
   * refusal's Retry-After, or the backoff). A refusal is said as an error meanwhile.
   */
  function nextPath(reason, refusal = null) {
    failures = 0;
    avoid = null;
    const list = paths();
    pathIndex = (pathIndex + 1) % list.length;
    if (pathIndex !== 0) {
      connect();
      return;
    }
    if (refusal) say("error", reason);
    else say("connecting");
    retryLater(refusal?.retryAfterMs);
  }

  function lost(mine, reason) {
    if (mine !== ticket || stopped) return;
    const instance = session?.instance ?? null;
    const played = showing;
    teardown();
    if (current === "janus" && instance) {
      // Janus dropped the session or stopped sending (it died): straight to another
      // instance, if there is one (503 otherwise: the next path). One that never
      // showed a picture counts as a failure, so a Janus that connects but sends
      // nothing gives way to the next path too.
      avoid = instance;
      if (!played) failures += 1;
      if (failures >= FAILURES_PER_PATH) nextPath(reason);
      else connect();
    } else if (current === "whep" && reason === "frames_stopped") {
      nextPath(reason);
    } else {
      failed(reason);
    }
  }

  async function connect() {
    if (stopped || !wanted) return;
    teardown();
    const list = paths();
    if (pathIndex >= list.length) pathIndex = 0;
    const path = list[pathIndex];
    const mine = {};
    ticket = mine;
    current = path;
    const stream = wanted;
    say("connecting");
    try {
      const opened = await OPENERS[path]({
        base,
        show,
        token,
        stream,
        video,
        markers,
        avoid: path === "janus" ? avoid : null,
        onMarked: marked,
        onConnected: () => {
          if (mine === ticket && !hasFrameCallback) say("playing"); // frames cannot be seen
        },
        onLost: (reason) => lost(mine, reason),
      });
      if (mine !== ticket) {
        opened.close();
        return;
      }
      session = opened;
      playingSession = stream.session;
      lastFrameAt = performance.now(); // the watch's clock starts now
    } catch (error) {
      if (mine !== ticket) return;
      ticket = null;
      refused(error);
    }
  }

  function refused(error) {
    const message = error?.message || String(error);
    if (!(error instanceof PathRefused)) {
      failed(message); // no answer, or the browser cannot take this path
    } else if (error.status === 409) {
      say("waiting"); // not live yet (or starting): the same path after Retry-After
      retryLater(error.retryAfterMs || 2000);
    } else if (error.code === "banned" || error.status === 401) {
      say("error", message); // no path will let this viewer in
    } else {
      nextPath(message, error); // at capacity, or this path is not there
    }
  }

  function receivingFrames() {
    return performance.now() - lastFrameAt < FRAME_SILENCE_MS;
  }

  // A WebRTC path that does not connect, or whose frames stop while the stream is live,
  // has failed (a dead Janus instance, a node that stopped forwarding). The first
  // frame gets longer (it waits for a keyframe). Not when nothing can be presented: a
  // hidden page or a paused video presents no frames either.
  const silenceWatch = setInterval(() => {
    if (stopped || !session || !wanted || !WEBRTC.has(current)) return;
    const silent = performance.now() - lastFrameAt;
    if (!session.connected()) {
      if (silent > CONNECT_TIMEOUT_MS) lost(ticket, "connection_failed");
      return;
    }
    if (!hasFrameCallback || document.visibilityState !== "visible" || video.paused) return;
    if (silent > (showing ? FRAME_SILENCE_MS : FIRST_FRAME_MS)) lost(ticket, "frames_stopped");
  }, 1000);

  if (hasFrameCallback) {
    video.requestVideoFrameCallback(onFrame);
  } else {
    scheduler?.streamless(); // no way to know the frame on screen
  }
  say("waiting");

  return {
    streamStarted(data) {
      if (!data || stopped) return;
      const fresh = !wanted || wanted.session !== data.session;
      wanted = data;
      if (!data.marker) scheduler?.streamless();
      if (!fresh && (session || ticket || retryTimer)) return; // the same stream, again
      if (fresh && session && pathIndex === 0 && WEBRTC.has(current) && receivingFrames()) {
        // A new publisher on the same node carries on over this connection; if its
        // frames do not come, connect again (to the first path: before the silence
        // watch would move on to the next).
        playingSession = data.session;
        lastFrameAt = performance.now();
        clearTimeout(freshTimer);
        freshTimer = setTimeout(() => {
          if (!stopped && wanted === data && performance.now() - lastFrameAt > FRESH_SILENCE_MS) connect();
        }, FRAME_SILENCE_MS - 1000);
        return;
      }
      pathIndex = 0; // a new stream: from the first path again
      failures = 0;
      avoid = null;
      attempt = 0;
      connect();
    },
    streamEnded(data) {
      if (data && wanted && data.session && data.session !== wanted.session) return;
      wanted = null;
      teardown();
      current = null;
      scheduler?.streamless();
      say("ended");
    },
    stop() {
      stopped = true;
      wanted = null;
      teardown();
      clearInterval(silenceWatch);
      markers.stop();
      scheduler?.streamless();
    },
    stats() {
      return {
        ...counters,
        connection: session ? (session.connected() ? "connected" : "connecting") : null,
        session: playingSession,
        path: current,
        instance: session?.instance ?? null, // the Janus instance, on that path
      };
    },
  };
}
