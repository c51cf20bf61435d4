// Shows a show's events in step with its video.
//
// Every show event happens at an instant of Redis' clock, the millisecond part of its
// id; every video frame livecart forwards carries the same clock's instant it arrived
// at the ingest (player.js reads it). An event is shown when the frame on screen has
// reached the event's position (>=, because presentation callbacks can skip frames):
// a pin made while the streamer held the product up appears with that very frame, not
// when it reaches the page (often earlier: the video runs behind). With no stream, no
// markers (a VP8 publisher), or a video that stopped presenting frames, events show at
// once.

const STALL_MS = 1500; // no frame presented for this long: stop waiting for frames

/** An event's stream position: the ms part of its id (Redis' clock when it happened). */
export function eventPos(event) {
  const id = String(event.id);
  return Number(id.slice(0, id.indexOf("-")));
}

/**
 * `createScheduler()` returns {at(pos, apply), presented(pos), streamless(), pending()}.
 * The player calls `presented(pos)` for every frame on screen, `streamless()` when there
 * is no stream to wait for; the page calls `at(pos, apply)` for each timed event.
 */
export function createScheduler({ stallMs = STALL_MS, now = () => performance.now() } = {}) {
  let position = null; // the position of the frame on screen, while frames are shown
  let lastFrameAt = 0;
  const waiting = []; // [{pos, apply}] in position order

  function runDue() {
    while (waiting.length && (position === null || waiting[0].pos <= position)) {
      const { apply } = waiting.shift();
      run(apply);
    }
  }

  function run(apply) {
    try {
      apply();
    } catch (error) {
      console.error("livecart: an overlay failed to apply", error);
    }
  }

  function stalled() {
    return position !== null && now() - lastFrameAt > stallMs;
  }

  const timer = setInterval(() => {
    if (stalled()) {
      position = null; // the video stopped: nothing should wait for it
      runDue();
    }
  }, Math.max(100, stallMs / 3));

  return {
    at(pos, apply) {
      if (position === null || stalled() || !(pos > position)) {
        if (waiting.length && position === null) runDue();
        run(apply);
        return;
      }
      let i = waiting.length;
      while (i > 0 && waiting[i - 1].pos > pos) i--;
      waiting.splice(i, 0, { pos, apply });
    },
    presented(pos) {
      position = position === null ? pos : Math.max(position, pos);
      lastFrameAt = now();
      runDue();
    },
    streamless() {
      position = null;
      runDue();
    },
    pending() {
      return waiting.length;
    },
    stop() {
      clearInterval(timer);
    },
  };
}
