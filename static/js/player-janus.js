// The Janus path: a Janus instance (Streaming plugin, fed by the ingest node) sends the
// frames; livecart relays the few API calls a viewer needs, so the page never talks to
// Janus itself (docs/video.md, "Large audiences"). Janus offers and the page answers:
//
//   POST .../janus[?avoid=INSTANCE] -> {session, offer, instance, keepalive_ms}
//   setRemoteDescription(offer), marker transform on the video receiver, answer,
//   ICE gathering (every candidate in the SDP, no trickle)
//   POST .../janus/{S}/answer (application/sdp), then .../keepalive every keepalive_ms
//   DELETE .../janus/{S} when the page stops watching
//
// A keepalive answered 404 means Janus dropped the session (it died or restarted):
// the session reports itself lost with its instance, and player.js connects again
// avoiding that instance.

import { authHeaders, gathered, playPeer, refusal } from "./player-webrtc.js";

const KEEPALIVE_MS = 20_000;

/**
 * `openJanus({base, show, token, stream, video, markers, avoid, onConnected, onLost})`
 * resolves to a session {path, instance, connected(), positionOf(meta), marked(), close()} once
 * the answer is posted, or rejects with a PathRefused or an Error. `onLost(reason)`
 * (reason connection_failed, connection_lost or session_gone) is called at most once.
 */
export async function openJanus({ base, show, token, stream, video, markers, avoid, onConnected, onLost }) {
  const endpoint = `${base}/api/shows/${encodeURIComponent(show)}/janus`;
  const query = avoid ? `?avoid=${encodeURIComponent(avoid)}` : "";
  const created = await fetch(endpoint + query, { method: "POST", headers: authHeaders(token) });
  if (created.status !== 201) throw await refusal(created);
  const { offer, instance, keepalive_ms: keepaliveMs } = await created.json();
  const resource = new URL(created.headers.get("Location"), created.url).href;

  const peer = new RTCPeerConnection(markers.peerOptions());
  let closed = false;
  let keepalive = null;
  const lost = (reason) => {
    if (closed) return;
    clearInterval(keepalive);
    onLost(reason);
  };
  const connected = playPeer(peer, video, {
    onConnected: () => !closed && onConnected(),
    onFailed: lost,
  });

  function close() {
    if (closed) return;
    closed = true;
    clearInterval(keepalive);
    peer.close();
    fetch(resource, { method: "DELETE", headers: authHeaders(token) }).catch(() => {});
  }

  try {
    await peer.setRemoteDescription({ type: "offer", sdp: offer });
    // The receivers exist now and no frame has come yet (none can before the answer):
    // the marker transform goes in before the receiver starts, as on the WHEP path.
    if (stream.marker) {
      for (const transceiver of peer.getTransceivers()) {
        if (transceiver.receiver.track.kind === "video") markers.attach(transceiver.receiver);
      }
    }
    await peer.setLocalDescription(await peer.createAnswer());
    await gathered(peer);
    const answered = await fetch(`${resource}/answer`, {
      method: "POST",
      headers: authHeaders(token, { "Content-Type": "application/sdp" }),
      body: peer.localDescription.sdp,
    });
    if (!answered.ok) throw await refusal(answered);
  } catch (error) {
    close();
    throw error;
  }

  keepalive = setInterval(async () => {
    try {
      const response = await fetch(`${resource}/keepalive`, { method: "POST", headers: authHeaders(token) });
      if (response.status === 404) lost("session_gone");
    } catch {
      // The node did not answer this once: the connection's own state tells if it is over.
    }
  }, keepaliveMs || KEEPALIVE_MS);

  return {
    path: "janus",
    instance,
    connected,
    positionOf: (meta) => markers.positionOf(meta.rtpTimestamp),
    marked: () => markers.seen(),
    close,
  };
}
