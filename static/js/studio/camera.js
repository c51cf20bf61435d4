// The streamer's camera: which camera and microphone, a preview, Go live (the show
// starts if it is scheduled, then the camera goes out over WHIP in H.264 through
// publisher.js), Stop video (the show stays live) and End (after a confirmation: the
// video stops, then the show ends). The camera starts only once the hub has said this
// token is staff of the show, never for a visitor who is not.

import { api } from "../api.js";
import { showResult } from "../format.js";
import { say } from "../messages.js";
import { goLive } from "../publisher.js";
import { STAFF_ROLES, perform, staffSay } from "../staff.js";

const OFF = "off"; // the select value for "no camera" / "no microphone"

const VIDEO_WORDS = {
  connecting: "Connecting the video…",
  live: "On air: viewers see your camera",
  reconnecting: "The video connection dropped. Reconnecting…",
};

/** The words' code for a getUserMedia failure (a DOMException's name). */
function cameraCode(error) {
  switch (error?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "camera_denied";
    case "NotFoundError":
    case "OverconstrainedError":
      return "camera_missing";
    case "NotReadableError":
    case "AbortError":
      return "camera_busy";
    default:
      return "camera_error";
  }
}

function busy(button) {
  return button.getAttribute("aria-busy") === "true";
}

export function mountCamera(section, { hub, show, token, endDialog }) {
  const $ = (selector) => section.querySelector(selector);
  const preview = $("video");
  const previewState = $(".studio-preview__state");
  const cameraSelect = $("#camera");
  const micSelect = $("#microphone");
  const goButton = $("#go-live");
  const stopButton = $("#stop-video");
  const endButton = $("#end-show");
  const status = $("#video-status");
  const result = $("#live-result");
  const role = () => hub.state.you.role;
  const showPath = `/api/shows/${encodeURIComponent(show)}`;

  let stream = null; // the preview's MediaStream: what Go live publishes
  let session = null; // publisher.js's session while the camera is published
  let videoState = "off"; // what publisher.js last reported
  let started = false; // the camera was asked for (once the hello named a staff role)
  let problem = null; // why there is no camera (a code), or null

  function stopTracks() {
    for (const track of stream?.getTracks() ?? []) track.stop();
    stream = null;
    preview.srcObject = null;
  }

  function fill(select, devices, kind, noneLabel, activeId) {
    const previous = select.value;
    const options = devices
      .filter((d) => d.kind === kind)
      .map((d, i) => new Option(d.label || `${kind === "videoinput" ? "Camera" : "Microphone"} ${i + 1}`, d.deviceId));
    options.push(new Option(noneLabel, OFF));
    select.replaceChildren(...options);
    const wanted = activeId ?? previous;
    if ([...select.options].some((o) => o.value === wanted)) select.value = wanted;
  }

  async function listDevices() {
    let devices = [];
    try {
      devices = await navigator.mediaDevices.enumerateDevices();
    } catch {
      devices = [];
    }
    const video = stream?.getVideoTracks()[0]?.getSettings().deviceId;
    const audio = stream?.getAudioTracks()[0]?.getSettings().deviceId;
    fill(cameraSelect, devices, "videoinput", "No camera: I stream from OBS", stream ? video : cameraSelect.value || null);
    fill(micSelect, devices, "audioinput", "No microphone", stream ? audio ?? OFF : micSelect.value || null);
  }

  async function startPreview() {
    stopTracks();
    problem = null;
    if (!navigator.mediaDevices?.getUserMedia) {
      problem = "camera_insecure";
      render();
      return;
    }
    const camera = cameraSelect.value;
    const mic = micSelect.value;
    if (camera === OFF) {
      render();
      return;
    }
    previewState.textContent = "Starting the camera…";
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: camera ? { deviceId: { exact: camera } } : { width: { ideal: 1280 }, height: { ideal: 720 } },
        audio: mic === OFF ? false : mic ? { deviceId: { exact: mic } } : true,
      });
      preview.srcObject = stream;
    } catch (error) {
      stream = null;
      problem = cameraCode(error);
    }
    await listDevices();
    render();
  }

  function onState({ state, code }) {
    videoState = state;
    if (state === "error") {
      session = null;
      showResult(result, "refused", staffSay({ code }, role()));
    }
    if (state === "ended") session = null;
    render();
  }

  async function stopVideo() {
    const current = session;
    session = null;
    videoState = "off";
    if (current) await current.stop();
  }

  function videoWords(s) {
    if (s?.state === "ended") return "The show has ended";
    if (session || videoState === "connecting") {
      const words = VIDEO_WORDS[videoState] ?? "Video off";
      const picture = s?.stream ? ` (${s.stream.width}×${s.stream.height} ${s.stream.codec})` : "";
      return videoState === "live" ? words + picture : words;
    }
    if (s?.stream) return `On air from another source, such as OBS (${s.stream.width}×${s.stream.height} ${s.stream.codec})`;
    return s?.state === "live" ? "The show is live, with no video" : "Video off";
  }

  function render() {
    const s = hub.state.show;
    const ended = s?.state === "ended";
    const live = s?.state === "live";
    const publishing = Boolean(session) || videoState === "connecting";
    goButton.textContent = stream || ended ? "Go live" : "Start the show";
    if (!busy(goButton)) goButton.disabled = !s || ended || publishing || (!stream && live);
    if (!busy(stopButton)) stopButton.disabled = !session;
    if (!busy(endButton)) endButton.disabled = !s || ended;
    cameraSelect.disabled = micSelect.disabled = publishing || !started;
    section.dataset.video = publishing ? videoState : "off";
    preview.hidden = !stream;
    if (stream) previewState.textContent = "";
    else if (problem) previewState.textContent = say(problem);
    else if (cameraSelect.value === OFF) previewState.textContent = "No camera: stream from OBS with the details below";
    else if (ended) previewState.textContent = "The show has ended";
    else previewState.textContent = started ? "Starting the camera…" : "The camera starts once the show is loaded";
    previewState.hidden = Boolean(stream);
    status.textContent = videoWords(s);
  }

  goButton.addEventListener("click", async () => {
    await perform(
      goButton,
      result,
      "Starting…",
      async () => {
        const s = hub.state.show;
        if (s?.state === "ended") throw { code: "show_ended" };
        if (s?.state !== "live") {
          showResult(result, "pending", "Starting the show…");
          await api(`${showPath}/start`, { method: "POST", token });
        }
        if (!stream) return "The show is live ✓ Viewers can buy; start your stream in OBS";
        showResult(result, "pending", "Connecting the video…");
        videoState = "connecting";
        render();
        try {
          session = await goLive({ show, token, stream, onState });
        } catch (error) {
          videoState = "off";
          throw error;
        }
        return "You're live ✓";
      },
      role,
    );
    render();
  });

  stopButton.addEventListener("click", async () => {
    await perform(stopButton, result, "Stopping the video…", async () => {
      await stopVideo();
      return hub.state.show?.state === "live" ? "Video stopped ✓ The show is still live" : "Video stopped ✓";
    }, role);
    render();
  });

  endButton.addEventListener("click", () => {
    endDialog.returnValue = "";
    endDialog.showModal();
  });
  endDialog.addEventListener("close", async () => {
    if (endDialog.returnValue !== "end") return;
    await perform(
      endButton,
      result,
      "Ending the show…",
      async () => {
        await stopVideo();
        await api(`${showPath}/end`, { method: "POST", token });
        return "The show has ended ✓";
      },
      role,
    );
    render();
  });

  cameraSelect.addEventListener("change", startPreview);
  micSelect.addEventListener("change", startPreview);
  navigator.mediaDevices?.addEventListener?.("devicechange", () => {
    if (started) listDevices();
  });

  hub.subscribe((change, state) => {
    // The camera is asked for once the hello says this is staff of a show that can still go live.
    const usable = STAFF_ROLES.has(state.you.role) && state.show && state.show.state !== "ended";
    if (!started && usable && state.status === "live") {
      started = true;
      startPreview();
    }
    if (change.kind === "event" && change.event.type === "show_ended") {
      // The show ended (here or elsewhere): its video ended with it on the server, and
      // the camera has nothing left to do.
      if (session) stopVideo();
      stopTracks();
    }
    render();
  });
  render();
}
