// Goes live from the browser: publishes a camera (a MediaStream) to the show's WHIP
// endpoint in H.264, the codec whose frames carry livecart's position markers.
//
// `goLive({show, token, stream, onState})` resolves once the server has answered (201)
// and returns {stop(), stats()}; it rejects with an Error whose `code` is the server's
// refusal (forbidden, codec_unsupported, show_ended, ingest_cap...). A dropped connection
// is published again with a new offer, which replaces the old session on the server (a
// network blip never locks the streamer out).

const GATHER_MS = 2000;
const MAX_BACKOFF_MS = 10_000;

export class PublishError extends Error {
  constructor(status, body) {
    super(body?.message || `the server refused to go live (${status})`);
    this.name = "PublishError";
    this.status = status;
    this.code = body?.error ?? "http_" + status;
  }
}

/** H.264 (packetization mode 1) first; VP8 only where the browser has no H.264. */
function videoPreferences() {
  const codecs = RTCRtpSender.getCapabilities?.("video")?.codecs ?? [];
  const h264 = codecs.filter(
    (c) => c.mimeType.toLowerCase() === "video/h264" && /packetization-mode=1/.test(c.sdpFmtpLine ?? ""),
  );
  const rtx = codecs.filter((c) => c.mimeType.toLowerCase() === "video/rtx");
  const vp8 = codecs.filter((c) => c.mimeType.toLowerCase() === "video/vp8");
  return h264.length ? [...h264, ...rtx] : [...vp8, ...rtx];
}

export async function goLive({ show, token, stream, onState = () => {}, base = "" }) {
  const endpoint = `${base}/api/shows/${encodeURIComponent(show)}/whip`;
  let pc = null;
  let resource = null;
  let stopped = false;
  let attempt = 0;
  let retryTimer = null;

  async function publish() {
    const peer = new RTCPeerConnection();
    pc = peer;
    for (const track of stream.getTracks()) {
      const transceiver = peer.addTransceiver(track, { direction: "sendonly", streams: [stream] });
      if (track.kind === "video" && transceiver.setCodecPreferences) {
        const preferred = videoPreferences();
        if (preferred.length) transceiver.setCodecPreferences(preferred);
      }
    }
    peer.onconnectionstatechange = () => {
      if (peer !== pc || stopped) return;
      if (peer.connectionState === "connected") {
        attempt = 0;
        onState({ state: "live" });
      } else if (peer.connectionState === "failed") {
        onState({ state: "reconnecting" });
        republishLater();
      }
    };
    await peer.setLocalDescription(await peer.createOffer());
    await gathered(peer);
    const response = await fetch(endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/sdp", Authorization: `Bearer ${token}` },
      body: peer.localDescription.sdp,
    });
    if (response.status !== 201) {
      let body = null;
      try {
        body = await response.json();
      } catch {
        body = null;
      }
      peer.close();
      throw new PublishError(response.status, body);
    }
    resource = new URL(response.headers.get("Location"), response.url).href;
    await peer.setRemoteDescription({ type: "answer", sdp: await response.text() });
  }

  function republishLater() {
    clearTimeout(retryTimer);
    const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
    attempt += 1;
    retryTimer = setTimeout(async () => {
      if (stopped) return;
      pc?.close();
      try {
        await publish();
      } catch (error) {
        if (error instanceof PublishError && error.status < 500 && error.status !== 409) {
          onState({ state: "error", message: error.message, code: error.code });
          return; // refused for good: the token, the show, the codec
        }
        republishLater();
      }
    }, delay);
  }

  onState({ state: "connecting" });
  await publish();
  return {
    async stop() {
      stopped = true;
      clearTimeout(retryTimer);
      const url = resource;
      resource = null;
      pc?.close();
      pc = null;
      if (url) {
        await fetch(url, { method: "DELETE", headers: { Authorization: `Bearer ${token}` } }).catch(() => {});
      }
      onState({ state: "ended" });
    },
    stats() {
      return { connection: pc?.connectionState ?? null, resource };
    },
  };
}

function gathered(peer) {
  if (peer.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => {
      if (peer.iceGatheringState === "complete") done();
    };
    const done = () => {
      clearTimeout(timer);
      peer.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const timer = setTimeout(done, GATHER_MS);
    peer.addEventListener("icegatheringstatechange", check);
  });
}
