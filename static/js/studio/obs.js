// Streaming from OBS instead of the browser: the show's WHIP URL and the bearer token to
// paste into OBS (Settings → Stream, Service WHIP), each with a copy button. The token
// is this page's own (the studio link's), hidden until asked for: a studio is often on
// a screen that is itself being streamed.

import { copyButton } from "../copy.js";

export function mountObs(section, { hub, show, token }) {
  const url = section.querySelector("#whip-url");
  const secret = section.querySelector("#whip-token");
  const reveal = section.querySelector("#whip-token-reveal");
  const note = section.querySelector(".obs-note");

  url.value = `${location.origin}/api/shows/${encodeURIComponent(show)}/whip`;
  secret.value = token ?? "";
  url.parentElement.append(copyButton(url, "Copy URL"));
  secret.parentElement.append(copyButton(secret, "Copy token"));

  reveal.addEventListener("click", () => {
    const shown = secret.type === "text";
    secret.type = shown ? "password" : "text";
    reveal.setAttribute("aria-pressed", String(!shown)); // a toggle: its name stays
  });

  hub.subscribe((change, state) => {
    const role = state.you.role;
    // Only a streamer's (or an admin's) token may publish: say so before OBS refuses it.
    note.hidden = !role || role === "streamer" || role === "admin";
    note.textContent = note.hidden ? "" : "This link is not the streamer's, so OBS will be refused with this token.";
  });
}
