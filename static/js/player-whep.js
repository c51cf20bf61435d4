// The WHEP path: the page offers, the livecart node answers and forwards the show's
// frames itself (docs/video.md, "WHEP"). A node at media.max_whep_viewers refuses with
// 503 viewer_cap: player.js moves on to the next path.

import { authHeaders, gathered, playPeer, refusal } from "./player-webrtc.js";

/**
 * `openWhep({base, show, token, stream, video, markers, onConnected, onLost})` resolves
 * to a session {path, connected(), positionOf(meta), marked(), close()} once the node has
 * answered, or rejects with a PathRefused (the node said no) or an Error (no answer).
 */
export async function openWhep({ base, show, token, stream, video, markers, onConnected, onLost }) {
  const endpoint = `${base}/api/shows/${encodeURIComponent(show)}/whep`;
  const peer = new RTCPeerConnection(markers.peerOptions());
  let resource = null;
  let closed = false;
  const video_ = peer.addTransceiver("video", { direction: "recvonly" });
  peer.addTransceiver("audio", { direction: "recvonly" });
  // Before the offer: Chromium passes frames through a transform only when it is in
  // place before the receiver starts.
  if (stream.marker) markers.attach(video_.receiver);
  const connected = playPeer(peer, video, {
    onConnected: () => !closed && onConnected(),
    onFailed: (reason) => !closed && onLost(reason),
  });

  function close() {
    if (closed) return;
    closed = true;
    peer.close();
    if (resource) fetch(resource, { method: "DELETE" }).catch(() => {});
  }

  try {
    await peer.setLocalDescription(await peer.createOffer());
    await gathered(peer);
    const response = await fetch(endpoint, {
      method: "POST",
      headers: authHeaders(token, { "Content-Type": "application/sdp" }),
      body: peer.localDescription.sdp,
    });
    if (response.status !== 201) throw await refusal(response);
    resource = new URL(response.headers.get("Location"), response.url).href;
    await peer.setRemoteDescription({ type: "answer", sdp: await response.text() });
  } catch (error) {
    close();
    throw error;
  }
  return {
    path: "whep",
    connected,
    positionOf: (meta) => markers.positionOf(meta.rtpTimestamp),
    marked: () => markers.seen(),
    close,
  };
}
