// Reactions: a row of buttons, and the hearts (and the rest) that float up the screen
// as the show's `reactions` events arrive, everyone's taps included. A tap floats
// nothing by itself: what floats is what the server counted.

import { h, showResult } from "./format.js";
import { icon } from "./icons.js";
import { say } from "./messages.js";

export const KINDS = {
  heart: "Send a heart",
  fire: "Send fire",
  clap: "Applaud",
  laugh: "Laugh",
  wow: "Wow",
};
const MAX_FLOATING = 40; // on screen at once, however busy the show
const PER_EVENT = 12;

export function mountReactions(group, { hub, layer, result, signIn }) {
  function float(kind, count) {
    if (!KINDS[kind]) return;
    for (let i = 0; i < Math.min(count, PER_EVENT); i += 1) {
      if (layer.childElementCount >= MAX_FLOATING) return;
      const bubble = h("span", { class: "floating", "data-kind": kind }, icon(kind, "floating__icon"));
      bubble.style.setProperty("--drift", `${Math.round(Math.random() * 60 - 30)}px`);
      bubble.style.setProperty("--delay", `${Math.round(Math.random() * 600)}ms`);
      bubble.addEventListener("animationend", () => bubble.remove());
      layer.append(bubble);
    }
  }

  function renderButtons(kinds) {
    group.replaceChildren(
      ...kinds.filter((kind) => KINDS[kind]).map((kind) => {
        const button = h(
          "button",
          { class: "lc-button lc-icon-button reaction", type: "button", "aria-label": KINDS[kind] },
          icon(kind),
        );
        button.addEventListener("click", async () => {
          if (!hub.token && !(await signIn())) {
            showResult(result, "refused", say("token_missing"));
            return;
          }
          try {
            await hub.request("react", { kind });
            showResult(result, "ok", "");
          } catch (error) {
            showResult(result, "refused", say(error.code));
          }
        });
        return button;
      }),
    );
  }

  renderButtons(Object.keys(KINDS));
  hub.subscribe((change, state) => {
    if (change.kind === "reset" && state.limits?.reaction_kinds) renderButtons(state.limits.reaction_kinds);
    if (change.kind === "event" && change.event.type === "reactions") {
      for (const [kind, count] of Object.entries(change.event.data.counts ?? {})) float(kind, count);
    }
  });
}
