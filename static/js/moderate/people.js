// Who is muted (until when) and who is banned, with Unmute and Unban, plus lifting a
// mute or ban by user id.
//
// The hub has no list of current mutes and bans to give: a staff socket receives the
// `muted`, `unmuted`, `banned` and `unbanned` events from the moment it joins, and the
// snapshot carries none of them. So these lists hold what this page has seen since it
// opened, kept across reconnects (a fresh snapshot would otherwise forget them), and the
// page says so; the form lifts an earlier one by name. A mute that runs out sends no
// event: it leaves the list by Redis' clock.

import { h, showResult, timeOfDay } from "../format.js";
import { perform } from "../staff.js";

const PRUNE_MS = 1000;

export function mountPeople(section, { hub }) {
  const $ = (selector) => section.querySelector(selector);
  const mutedBody = $("#muted-body");
  const bannedBody = $("#banned-body");
  const mutedNone = $("#muted-none");
  const bannedNone = $("#banned-none");
  const note = $("#people-note");
  const form = $("#lift-form");
  const userInput = $("#lift-user");
  const result = $("#people-result");
  const role = () => hub.state.you.role;
  const muted = new Map(); // user -> until_ms
  const banned = new Set();
  let resets = 0;

  function lift(kind, user, button) {
    const verb = kind === "unmute" ? "Unmuting" : "Unbanning";
    return perform(
      button,
      result,
      `${verb} ${user}…`,
      async () => {
        const reply = await hub.request(kind, { user });
        if (kind === "unmute") return reply.changed ? `${user} can chat again ✓` : `${user} wasn't muted`;
        return reply.changed ? `${user} may come back ✓` : `${user} wasn't banned`;
      },
      role,
    );
  }

  function row(user, cells, kind, label) {
    const button = h("button", { type: "button", class: "lc-button lc-button--small" }, label, h("span", { class: "lc-sr-only", text: ` ${user}` }));
    button.addEventListener("click", () => lift(kind, user, button));
    return h("tr", { "data-user": user }, h("th", { scope: "row", text: user }), ...cells, h("td", { class: "mod-action" }, button));
  }

  function render() {
    const now = hub.serverNow();
    for (const [user, until] of muted) if (until <= now) muted.delete(user);
    const mutedUsers = [...muted.keys()].sort();
    const mutedRows = mutedUsers.map((user) =>
      row(user, [h("td", { text: timeOfDay(muted.get(user), hub.state.clockOffsetMs) })], "unmute", "Unmute"),
    );
    // Rebuilt only when someone joined or left a list, so focus is not taken from a button.
    if (mutedBody.dataset.users !== mutedUsers.join("\n")) {
      mutedBody.dataset.users = mutedUsers.join("\n");
      mutedBody.replaceChildren(...mutedRows);
    } else {
      mutedUsers.forEach((user, i) => {
        mutedBody.children[i].children[1].textContent = timeOfDay(muted.get(user), hub.state.clockOffsetMs);
      });
    }
    const bannedUsers = [...banned].sort();
    if (bannedBody.dataset.users !== bannedUsers.join("\n")) {
      bannedBody.dataset.users = bannedUsers.join("\n");
      bannedBody.replaceChildren(...bannedUsers.map((user) => row(user, [], "unban", "Unban")));
    }
    mutedNone.hidden = mutedUsers.length > 0;
    mutedBody.closest("table").hidden = mutedUsers.length === 0;
    bannedNone.hidden = bannedUsers.length > 0;
    bannedBody.closest("table").hidden = bannedUsers.length === 0;
    let words = "These lists show the mutes and bans made since this page opened; earlier ones are not known here. Lift one by user id below.";
    if (resets > 1) words += " The connection was restored from a fresh start, so changes made while it was down may be missing.";
    note.textContent = words;
  }

  hub.subscribe((change) => {
    if (change.kind === "reset") resets += 1;
    if (change.kind === "event") {
      const { type, data } = change.event;
      if (type === "muted") muted.set(data.user, data.until_ms);
      if (type === "unmuted") muted.delete(data.user);
      if (type === "banned") banned.add(data.user);
      if (type === "unbanned") banned.delete(data.user);
    }
    render();
  });

  form.addEventListener("submit", (event) => event.preventDefault());
  for (const button of form.querySelectorAll("button[data-kind]")) {
    button.addEventListener("click", () => {
      const user = userInput.value.trim();
      if (!/^[A-Za-z0-9_.@+-]{1,64}$/.test(user)) {
        userInput.setAttribute("aria-invalid", "true");
        showResult(result, "refused", "Enter a user id: letters, digits and _ . @ + - (up to 64)");
        userInput.focus();
        return;
      }
      userInput.removeAttribute("aria-invalid");
      lift(button.dataset.kind, user, button);
    });
  }

  setInterval(render, PRUNE_MS);
  render();
}
