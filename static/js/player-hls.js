// The HLS path: fMP4 segments of the show's frames, remuxed by ffmpeg without
// re-encoding on the ingest node (or served by a CDN in front of it), played with
// hls.js (static/vendor/hls.mjs, imported only when this path is taken).
//
// The frames carry the same SEI markers as on WebRTC. hls.js hands every SEI
// user_data_unregistered message it finds to FRAG_PARSING_USERDATA, before the segment
// is appended, with `pts`: the frame's time on the video element's timeline, in
// seconds (hls.js subtracts the initPTS offset it also applies to the media it appends;
// tests/browser/test_hls_player.py checks that mediaTime matches it frame for frame).
// requestVideoFrameCallback names each presented frame's `mediaTime`, so the position
// on screen is the marker whose pts is the frame's.

import { PathRefused } from "./player-webrtc.js";

const HLS_MODULE = new URL("../vendor/hls.mjs", import.meta.url);
const MARKER_UUID = "6c697665-6361-7274-2d70-6f732d763100"; // as hls.js spells it
const KEPT_S = 60; // markers kept behind the playhead
const DEFAULT_FRAME_S = 1 / 30;

/**
 * `openHls({base, show, stream, video, onMarked, onConnected, onLost})` resolves to a
 * session {path, connected(), positionOf(meta), marked(), close()} once the playlist is loaded,
 * or rejects with a PathRefused (no playlist: its HTTP status) or an Error (no
 * HLS in this browser). `onLost(reason)` is called at most once, on a fatal error.
 */
export async function openHls({ base, show, stream, video, onMarked = () => {}, onConnected, onLost }) {
  const url = stream.hls_url || `${base}/hls/${encodeURIComponent(show)}/index.m3u8`;
  const { default: Hls } = await import(HLS_MODULE.href);
  if (!Hls.isSupported()) return playNatively(url, video, onConnected);

  const markers = createPtsMap();
  const hls = new Hls({
    lowLatencyMode: false,
    liveSyncDurationCount: 2,
    enableWorker: false, // fMP4 is passed through, not transmuxed: little work to move off the page
    backBufferLength: 30,
  });
  let closed = false;
  let ready = false;
  let recovered = false;

  hls.on(Hls.Events.FRAG_PARSING_USERDATA, (_event, data) => {
    for (const sample of data.samples) {
      const pos = markerPosition(sample);
      if (pos === null) continue;
      markers.add(sample.pts, pos);
      onMarked(pos, sample.pts);
    }
    markers.forget(video.currentTime - KEPT_S);
  });

  await new Promise((resolve, reject) => {
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      ready = true;
      resolve();
    });
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (closed || !data.fatal) return;
      if (!ready) {
        hls.destroy();
        closed = true;
        const status = data.response?.code ?? 0;
        reject(new PathRefused(status, "hls_unavailable", `HLS: ${data.details}`, 0));
      } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR && !recovered) {
        recovered = true; // once: a decode error that repeats is not going away
        hls.recoverMediaError();
      } else {
        close();
        onLost("hls_failed");
      }
    });
    video.srcObject = null;
    hls.loadSource(url);
    hls.attachMedia(video);
  });
  video.play().catch(() => {});
  onConnected();

  function close() {
    if (closed) return;
    closed = true;
    hls.destroy();
    video.removeAttribute("src");
    video.load();
  }

  return {
    path: "hls",
    connected: () => ready && !closed,
    positionOf: (meta) => markers.at(meta.mediaTime),
    marked: () => markers.size() > 0,
    close,
  };
}

/** Browsers with HLS built in and no Media Source (older iPhones): no markers. */
function playNatively(url, video, onConnected) {
  if (!video.canPlayType("application/vnd.apple.mpegurl")) {
    throw new Error("this browser cannot play HLS");
  }
  video.srcObject = null;
  video.src = url;
  video.play().catch(() => {});
  onConnected();
  return {
    path: "hls",
    connected: () => true,
    positionOf: () => undefined,
    marked: () => false,
    close() {
      video.removeAttribute("src");
      video.load();
    },
  };
}

/** A livecart marker's position (8 bytes, big-endian ms after the UUID), or null. */
export function markerPosition(sample) {
  const bytes = sample.userDataBytes;
  if (sample.uuid !== MARKER_UUID || !bytes || bytes.length < 8) return null;
  let pos = 0;
  for (let k = 0; k < 8; k++) pos = pos * 256 + bytes[k];
  return pos;
}

/**
 * Frame times (seconds) -> positions, in time order. `at(t)` is the position of the
 * frame presented at `t`: the marker with the largest time at or before t plus half a
 * frame (mediaTime and the sample's pts are both rounded from the track's timescale).
 */
export function createPtsMap() {
  const times = [];
  const positions = [];
  let frameS = DEFAULT_FRAME_S;

  function indexAfter(t) {
    let lo = 0;
    let hi = times.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (times[mid] <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo; // first index with times[i] > t
  }

  return {
    add(t, pos) {
      const i = indexAfter(t);
      if (i > 0 && Math.abs(times[i - 1] - t) < 1e-6) {
        positions[i - 1] = pos; // the same frame again (a segment loaded twice)
        return;
      }
      const gaps = [i > 0 ? t - times[i - 1] : Infinity, i < times.length ? times[i] - t : Infinity];
      for (const gap of gaps) if (gap > 0.001 && gap < frameS * 1.5) frameS = Math.min(frameS, gap);
      times.splice(i, 0, t);
      positions.splice(i, 0, pos);
    },
    at(t) {
      if (typeof t !== "number") return undefined;
      const i = indexAfter(t + frameS / 2);
      return i > 0 ? positions[i - 1] : undefined;
    },
    forget(before) {
      const n = indexAfter(before);
      if (n > 0) {
        times.splice(0, n);
        positions.splice(0, n);
      }
    },
    size: () => times.length,
  };
}
