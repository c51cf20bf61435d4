// Plays a show's video (WHEP) into a <video> and tells the overlay scheduler which
// stream position is on screen.
//
// The encoded frames pass through marker-worker.js (RTCRtpScriptTransform, or
// createEncodedStreams where only that exists), which reads each frame's position and
// its RTP timestamp; requestVideoFrameCallback names the RTP timestamp of each frame as
// it is presented, so the page knows the position of the picture on screen, frame by
// frame. Without markers (VP8) or without those APIs, the scheduler is told there is
// nothing to wait for and events show at once.
//
// The player follows the show: `streamStarted(data)` (the snapshot's `show.stream`, or
// a `stream_started` event) connects, `streamEnded()` stops; a connection that fails
// while the stream is live is tried again with backoff; a 409 (not live yet) waits for
// its Retry-After.

const WORKER_URL = new URL("./marker-worker.js", import.meta.url);
const POSITIONS_KEPT = 600; // rtp timestamp -> position for the last ~20 s of frames
const GATHER_MS = 2000; // ICE gathering wait before the offer is sent without the rest
const MAX_BACKOFF_MS = 15_000;
const FRAME_SILENCE_MS = 2000; // no frame for this long after a new stream: reconnect

const canScriptTransform = typeof RTCRtpScriptTransform !== "undefined";
const hasFrameCallback =
  typeof HTMLVideoElement !== "undefined" && "requestVideoFrameCallback" in HTMLVideoElement.prototype;
const canEncodedStreams =
  typeof RTCRtpReceiver !== "undefined" && "createEncodedStreams" in RTCRtpReceiver.prototype;

/**
 * `watchShow(video, {show, token, scheduler, onState, base, observe})` returns
 * {stop(), streamStarted(data), streamEnded(data), stats()}. `onState({state, message})`
 * with state waiting | connecting | playing | ended | error. `observe` (optional, for
 * diagnostics) gets `marked(pos)` for each frame received and `presented(pos)` for
 * each frame on screen (pos null when it carries no marker).
 */
export function watchShow(
  video,
  { show, token = null, scheduler, onState = () => {}, base = "", observe = null },
) {
  const endpoint = `${base}/api/shows/${encodeURIComponent(show)}/whep`;
  let pc = null;
  let worker = null;
  let resource = null; // the WHEP session URL, for DELETE
  let wanted = null; // the stream we want to be playing (its data), or null
  let playingSession = null;
  let attempt = 0;
  let retryTimer = null;
  let stopped = false;
  let lastFrameAt = 0;
  let markers = false; // positions are arriving from the worker
  let showing = false; // a frame of the current connection has been presented
  const positions = new Map(); // rtp timestamp -> position
  const counters = { marked: 0, presented: 0, matched: 0 };

  function say(state, message) {
    onState({ state, message });
  }

  function remember(rtp, pos) {
    observe?.marked?.(pos);
    positions.set(rtp, pos);
    counters.marked += 1;
    markers = true;
    if (positions.size > POSITIONS_KEPT) positions.delete(positions.keys().next().value);
  }

  function onFrame(_now, meta) {
    if (stopped) return;
    lastFrameAt = performance.now();
    counters.presented += 1;
    if (!showing && pc?.connectionState === "connected") {
      showing = true;
      say("playing"); // a picture on screen, not merely a connection
    }
    const pos = positions.get(meta.rtpTimestamp);
    observe?.presented?.(pos ?? null);
    if (pos !== undefined) {
      counters.matched += 1;
      scheduler?.presented(pos);
    } else if (!markers) {
      scheduler?.streamless(); // frames without markers: nothing to wait for
    }
    video.requestVideoFrameCallback(onFrame);
  }

  function startWorker() {
    if (!worker && (canScriptTransform || canEncodedStreams)) {
      worker = new Worker(WORKER_URL, { type: "module" });
      worker.onmessage = (event) => remember(event.data.rtp, event.data.pos);
    }
  }

  function attachMarkers(receiver) {
    startWorker();
    if (canScriptTransform) {
      receiver.transform = new RTCRtpScriptTransform(worker, { kind: "video" });
    } else if (canEncodedStreams) {
      const { readable, writable } = receiver.createEncodedStreams();
      worker.postMessage({ readable, writable }, [readable, writable]);
    }
  }

  async function teardown() {
    clearTimeout(retryTimer);
    retryTimer = null;
    const old = pc;
    const oldResource = resource;
    pc = null;
    resource = null;
    playingSession = null;
    positions.clear();
    markers = false;
    showing = false;
    if (old) old.close();
    if (oldResource) {
      fetch(oldResource, { method: "DELETE" }).catch(() => {});
    }
  }

  function retryLater(ms) {
    clearTimeout(retryTimer);
    if (stopped || !wanted) return;
    const delay = ms ?? Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt += 1;
    retryTimer = setTimeout(connect, delay);
  }

  async function connect() {
    if (stopped || !wanted) return;
    await teardown();
    const session = wanted.session;
    say("connecting");
    const encoded = !canScriptTransform && canEncodedStreams;
    const peer = new RTCPeerConnection(encoded ? { encodedInsertableStreams: true } : {});
    pc = peer;
    const videoTransceiver = peer.addTransceiver("video", { direction: "recvonly" });
    peer.addTransceiver("audio", { direction: "recvonly" });
    // Before the offer: Chromium passes frames through a transform only when it is in
    // place before the receiver starts.
    if (wanted?.marker && (canScriptTransform || canEncodedStreams)) {
      attachMarkers(videoTransceiver.receiver);
    }
    const media = new MediaStream();
    peer.ontrack = (event) => {
      media.addTrack(event.track);
      video.srcObject = media;
      video.play().catch(() => {});
    };
    peer.onconnectionstatechange = () => {
      if (peer !== pc) return;
      if (peer.connectionState === "connected") {
        attempt = 0;
        playingSession = session; // "playing" is said with the first frame on screen,
        if (!hasFrameCallback) say("playing"); // or, where frames cannot be seen, now
      } else if (peer.connectionState === "failed" || peer.connectionState === "closed") {
        say("connecting");
        retryLater();
      }
    };
    try {
      await peer.setLocalDescription(await peer.createOffer());
      await gathered(peer);
      const headers = { "Content-Type": "application/sdp" };
      if (token) headers.Authorization = `Bearer ${token}`;
      const response = await fetch(endpoint, { method: "POST", headers, body: peer.localDescription.sdp });
      if (peer !== pc) return;
      if (response.status === 201) {
        resource = new URL(response.headers.get("Location"), response.url).href;
        await peer.setRemoteDescription({ type: "answer", sdp: await response.text() });
        return;
      }
      const retryAfter = Number(response.headers.get("Retry-After") || 0) * 1000;
      let reason = "";
      try {
        reason = (await response.json()).message || "";
      } catch {
        reason = response.statusText;
      }
      peer.close();
      pc = null;
      if (response.status === 409) {
        say("waiting");
        retryLater(retryAfter || 2000);
      } else if (response.status === 503) {
        say("error", reason);
        retryLater(retryAfter || 10_000);
      } else {
        say("error", reason);
      }
    } catch (error) {
      if (peer === pc) {
        say("error", error?.message || String(error));
        retryLater();
      }
    }
  }

  // Started now, so the worker has installed its handlers before a transform is set:
  // a module worker that is still loading misses the `rtctransform` event.
  startWorker();
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
      if (!pc || (fresh && playingSession !== data.session && !receivingFrames())) {
        attempt = 0;
        connect();
      } else if (fresh) {
        // A new publisher on the same node carries on over this connection; if its
        // frames do not come, connect again.
        setTimeout(() => {
          if (!stopped && wanted === data && !receivingFrames()) connect();
        }, FRAME_SILENCE_MS);
      }
    },
    streamEnded(data) {
      if (data && wanted && data.session && data.session !== wanted.session) return;
      wanted = null;
      teardown();
      scheduler?.streamless();
      say("ended");
    },
    stop() {
      stopped = true;
      wanted = null;
      teardown();
      if (worker) worker.terminate();
      scheduler?.streamless();
    },
    stats() {
      return { ...counters, connection: pc?.connectionState ?? null, session: playingSession };
    },
  };

  function receivingFrames() {
    return performance.now() - lastFrameAt < FRAME_SILENCE_MS;
  }
}

function gathered(peer) {
  if (peer.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      peer.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => {
      if (peer.iceGatheringState === "complete") done();
    };
    const timer = setTimeout(done, GATHER_MS);
    peer.addEventListener("icegatheringstatechange", check);
  });
}
