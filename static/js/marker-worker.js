// A worker that reads livecart's position marker from every received video frame.
//
// livecart stamps each H.264 access unit with an SEI user_data_unregistered message:
// a 16-byte UUID ("livecart-pos-v1\0") and the frame's stream position as 8 bytes,
// big-endian (milliseconds of Redis' clock; see livecart/media/marker.py). The page's
// player hands this worker the receiver's encoded frames, through RTCRtpScriptTransform
// (the `rtctransform` event) or, in older browsers, through createEncodedStreams (a
// message carrying the two streams). Frames pass through unchanged; for each marked
// frame the worker posts {rtp, pos}: its RTP timestamp, which the page sees again in
// requestVideoFrameCallback when the frame is on screen, and its position.

const UUID = [0x6c, 0x69, 0x76, 0x65, 0x63, 0x61, 0x72, 0x74, 0x2d, 0x70, 0x6f, 0x73, 0x2d, 0x76, 0x31, 0x00];
const SEI = 6;
const USER_DATA_UNREGISTERED = 5;

/** The position a livecart marker in this Annex B access unit carries, or null. */
export function readMarker(bytes) {
  const n = bytes.length;
  let i = 0;
  while (i + 3 < n) {
    // find a start code 00 00 01
    if (bytes[i] === 0 && bytes[i + 1] === 0 && bytes[i + 2] === 1) {
      const start = i + 3;
      const type = bytes[start] & 0x1f;
      if (type >= 1 && type <= 5) return null; // a slice: the marker comes before the first
      if (type === SEI) {
        let end = start + 1;
        while (end + 2 < n && !(bytes[end] === 0 && bytes[end + 1] === 0 && bytes[end + 2] <= 1)) end++;
        if (end + 2 >= n) end = n;
        const found = positionInSei(unescape(bytes.subarray(start + 1, end)));
        if (found !== null) return found;
        i = end;
        continue;
      }
      i = start;
      continue;
    }
    i++;
  }
  return null;
}

function unescape(nal) {
  const out = new Uint8Array(nal.length);
  let o = 0;
  let zeros = 0;
  for (let k = 0; k < nal.length; k++) {
    const b = nal[k];
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out[o++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, o);
}

function positionInSei(rbsp) {
  let i = 0;
  const n = rbsp.length;
  while (i < n && rbsp[i] !== 0x80) {
    let type = 0;
    while (i < n && rbsp[i] === 0xff) { type += 255; i++; }
    if (i >= n) return null;
    type += rbsp[i++];
    let size = 0;
    while (i < n && rbsp[i] === 0xff) { size += 255; i++; }
    if (i >= n) return null;
    size += rbsp[i++];
    if (type === USER_DATA_UNREGISTERED && size >= 24 && i + 24 <= n && UUID.every((b, k) => rbsp[i + k] === b)) {
      let pos = 0;
      for (let k = 16; k < 24; k++) pos = pos * 256 + rbsp[i + k];
      return pos;
    }
    i += size;
  }
  return null;
}

function passThrough(readable, writable) {
  const transform = new TransformStream({
    transform(frame, controller) {
      const pos = readMarker(new Uint8Array(frame.data));
      if (pos !== null) self.postMessage({ rtp: frame.getMetadata().rtpTimestamp, pos });
      controller.enqueue(frame);
    },
  });
  readable.pipeThrough(transform).pipeTo(writable).catch(() => {});
}

if (typeof self !== "undefined" && typeof WorkerGlobalScope !== "undefined" && self instanceof WorkerGlobalScope) {
  self.onrtctransform = (event) => passThrough(event.transformer.readable, event.transformer.writable);
  self.onmessage = (event) => {
    if (event.data && event.data.readable) passThrough(event.data.readable, event.data.writable);
  };
}
