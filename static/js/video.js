// The video area of the viewer page. Playback (WHEP) and overlay timing come from the
// video part's modules, player.js and overlay-scheduler.js, loaded on demand: the page
// paints and connects to the hub without waiting for them, and works without them.
// Until they load (or when they are missing) the area says there is no video yet and
// every event is shown as it arrives.

const WORDS = {
  none: "No video yet",
  waiting: "Waiting for the stream to start",
  connecting: "Connecting to the video…",
  playing: "",
  ended: "The stream has ended",
  error: "The video could not be played",
  stopped: "",
};

/**
 * `mountVideo(area, {show, token})` returns {schedule, streamStarted, streamEnded,
 * stop}. `schedule(event, apply)` is the hub client's hook: it holds an overlay
 * event until the frame it belongs to is on screen, or applies it at once.
 */
export function mountVideo(area, { show, token }) {
  const video = area.querySelector("video");
  const label = area.querySelector(".video-state");
  let scheduler = null;
  let eventPos = null;
  let player = null;
  let stream = null; // the stream announced before the player loaded
  let stopped = false; // the page may not watch any more (removed, no such show)

  function say(state, message) {
    area.dataset.state = state;
    video.hidden = state !== "playing";
    label.textContent = message && state === "error" ? `${WORDS.error}: ${message}` : WORDS[state] ?? "";
    label.hidden = !label.textContent;
  }

  say("none");

  async function load() {
    if (stopped) return;
    let players;
    let schedulers;
    try {
      [players, schedulers] = await Promise.all([import("./player.js"), import("./overlay-scheduler.js")]);
    } catch {
      return; // the video part is not installed: events show at once, the area says so
    }
    if (stopped) return;
    try {
      const made = schedulers.createScheduler();
      player = players.watchShow(video, {
        show,
        token,
        scheduler: made,
        onState: ({ state, message }) => say(state, message),
      });
      scheduler = made;
      eventPos = schedulers.eventPos;
    } catch (error) {
      console.error("livecart: the video part failed to start", error);
      player = null;
      say("error", error?.message);
      return;
    }
    if (stream) player.streamStarted(stream);
  }
  load();

  return {
    schedule(event, apply) {
      if (scheduler && eventPos) scheduler.at(eventPos(event), apply);
      else apply();
    },
    streamStarted(data) {
      if (stopped) return;
      stream = data;
      player?.streamStarted(data);
    },
    streamEnded(data) {
      stream = null;
      player?.streamEnded(data);
    },
    stop() {
      stopped = true;
      player?.stop();
      player = null;
      say("stopped");
    },
  };
}
