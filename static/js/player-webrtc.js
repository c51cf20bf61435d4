// What the two WebRTC paths (player-whep.js, player-janus.js) share: the marker reader,
// the peer connection, ICE gathering and the server's refusals.
//
// The marker reader passes the received video frames through marker-worker.js
// (RTCRtpScriptTransform, or createEncodedStreams where only that exists), which posts
// each frame's position with its RTP timestamp; requestVideoFrameCallback names the RTP
// timestamp of each frame as it is presented, so `positionOf(meta)` is the position of
// the picture on screen.

const WORKER_URL = new URL("./marker-worker.js", import.meta.url);
const POSITIONS_KEPT = 600; // rtp timestamp -> position for the last ~20 s of frames
const GATHER_MS = 2000; // ICE gathering wait before the SDP is sent without the rest

const canScriptTransform = typeof RTCRtpScriptTransform !== "undefined";
const canEncodedStreams =
  typeof RTCRtpReceiver !== "undefined" && "createEncodedStreams" in RTCRtpReceiver.prototype;

/** A path's refusal by the server: its status, error code, message and Retry-After. */
export class PathRefused extends Error {
  constructor(status, code, message, retryAfterMs) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The PathRefused a non-success response stands for (its JSON error, if any). */
export async function refusal(response) {
  const retryAfterMs = Number(response.headers.get("Retry-After") || 0) * 1000;
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = { message: response.statusText };
  }
  return new PathRefused(response.status, body.error ?? null, body.message ?? "", retryAfterMs);
}

/**
 * `createMarkerReader({onMarked})`: one worker for the player's life, started at once so
 * it has installed its handlers before a transform is set (a module worker that is
 * still loading misses the `rtctransform` event). `attach(receiver)` before frames
 * flow; `onMarked(pos)` for every marked frame received.
 */
export function createMarkerReader({ onMarked = () => {} } = {}) {
  const supported = canScriptTransform || canEncodedStreams;
  const positions = new Map(); // rtp timestamp -> position
  let worker = null;
  let seen = false; // positions are arriving

  if (supported) {
    worker = new Worker(WORKER_URL, { type: "module" });
    worker.onmessage = ({ data }) => {
      positions.set(data.rtp, data.pos);
      seen = true;
      if (positions.size > POSITIONS_KEPT) positions.delete(positions.keys().next().value);
      onMarked(data.pos);
    };
  }

  return {
    supported,
    /** Peer connection options: createEncodedStreams needs them at construction. */
    peerOptions() {
      return !canScriptTransform && canEncodedStreams ? { encodedInsertableStreams: true } : {};
    },
    attach(receiver) {
      if (!worker) return;
      if (canScriptTransform) {
        receiver.transform = new RTCRtpScriptTransform(worker, { kind: "video" });
      } else {
        const { readable, writable } = receiver.createEncodedStreams();
        worker.postMessage({ readable, writable }, [readable, writable]);
      }
    },
    positionOf(rtpTimestamp) {
      return positions.get(rtpTimestamp);
    },
    seen() {
      return seen;
    },
    /** A new connection: forget the old one's timestamps. */
    clear() {
      positions.clear();
      seen = false;
    },
    stop() {
      worker?.terminate();
      worker = null;
    },
  };
}

/**
 * Plays a peer connection's tracks in `video` and reports its fate: `onConnected()`
 * once, `onFailed()` once when it fails or closes. Returns `connected()`.
 */
export function playPeer(peer, video, { onConnected, onFailed }) {
  const media = new MediaStream();
  let connected = false;
  let over = false;
  peer.ontrack = (event) => {
    media.addTrack(event.track);
    video.srcObject = media;
    video.play().catch(() => {});
  };
  peer.onconnectionstatechange = () => {
    if (over) return;
    if (peer.connectionState === "connected" && !connected) {
      connected = true;
      onConnected();
    } else if (peer.connectionState === "failed" || peer.connectionState === "closed") {
      over = true;
      onFailed(connected ? "connection_lost" : "connection_failed");
    }
  };
  return () => connected;
}

/** Resolves when the peer has gathered its ICE candidates, or after GATHER_MS. */
export function gathered(peer) {
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

export function authHeaders(token, headers = {}) {
  return token ? { ...headers, Authorization: `Bearer ${token}` } : headers;
}
