// The moderator's controls on each chat message: Delete, Mute (for the length chosen
// above the chat) and Ban (after a confirmation). Staff messages get Delete only. Each
// outcome is said on the message's own line; the lists of who is muted or banned follow
// the hub's staff events, not these replies.

import { h, timeOfDay } from "../format.js";
import { perform } from "../staff.js";

function labelled(text, hidden) {
  return [text, h("span", { class: "lc-sr-only", text: hidden })];
}

export function createLineActions({ hub, muteFor, banDialog }) {
  const role = () => hub.state.you.role;
  let banning = null; // {user, button, result} while the dialog asks

  banDialog.addEventListener("close", async () => {
    const pending = banning;
    banning = null;
    if (!pending || banDialog.returnValue !== "ban") return;
    await perform(
      pending.button,
      pending.result,
      `Banning ${pending.user}…`,
      async () => {
        const reply = await hub.request("ban", { user: pending.user });
        return reply.changed ? `${pending.user} is banned ✓` : `${pending.user} was already banned`;
      },
      role,
    );
  });

  return function lineActions(message) {
    const result = h("span", { class: "lc-result mod-line__result", role: "status" });
    const remove = h(
      "button",
      { type: "button", class: "lc-button lc-button--small" },
      ...labelled("Delete", ` ${message.user}'s message`),
    );
    remove.addEventListener("click", () =>
      perform(
        remove,
        result,
        "Deleting…",
        async () => {
          const reply = await hub.request("delete_message", { message_id: message.id });
          return reply.changed ? "Deleted ✓" : "It was deleted already";
        },
        role,
      ),
    );
    if (message.staff) return h("span", { class: "mod-line" }, remove, result);

    const mute = h("button", { type: "button", class: "lc-button lc-button--small" }, ...labelled("Mute", ` ${message.user}`));
    mute.addEventListener("click", () => {
      const seconds = muteFor();
      perform(
        mute,
        result,
        `Muting ${message.user}…`,
        async () => {
          const reply = await hub.request("mute", { user: message.user, seconds });
          return `${message.user} is muted until ${timeOfDay(reply.until_ms, hub.state.clockOffsetMs)} ✓`;
        },
        role,
      );
    });

    const ban = h("button", { type: "button", class: "lc-button lc-button--small mod-ban" }, ...labelled("Ban", ` ${message.user}`));
    ban.addEventListener("click", () => {
      banning = { user: message.user, button: ban, result };
      banDialog.querySelector(".mod-ban-user").textContent = message.user;
      banDialog.querySelector("button[value=ban]").textContent = `Ban ${message.user}`;
      banDialog.returnValue = "";
      banDialog.showModal();
    });

    return h("span", { class: "mod-line" }, remove, mute, ban, result);
  };
}
