// The show's chat: recent messages as they come (deleted ones vanish), and a box to write
// in. A message appears when the server has posted it (its event), never before; a
// refusal is said in words, with until when for a mute and how long for slow mode.

import { h, showResult, timeOfDay } from "./format.js";
import { say } from "./messages.js";

const SHOWN = 100; // messages in the list; older ones leave it

// `lineActions(message)`, when given, returns controls to add to each message's line
// (the moderator page's mute, ban and delete), or null for none.
export function mountChat(section, { hub, signIn, lineActions = null }) {
  const list = section.querySelector(".chat-list");
  const form = section.querySelector(".chat-form");
  const input = form.querySelector("input");
  const send = form.querySelector("button");
  const result = section.querySelector(".chat-result");
  let rendered = new Map(); // message id -> element

  function line(message) {
    return h(
      "li",
      { class: message.staff ? "chat-message is-staff" : "chat-message", "data-id": message.id },
      h("span", { class: "chat-message__user", text: message.user }),
      message.staff ? h("span", { class: "lc-badge chat-message__staff", text: "Host" }) : null,
      " ",
      h("span", { class: "chat-message__text", text: message.text }),
      lineActions ? lineActions(message) : null,
    );
  }

  function stickToBottom(update) {
    const near = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    update();
    if (near) list.scrollTop = list.scrollHeight;
  }

  function renderAll() {
    stickToBottom(() => {
      const messages = hub.state.chat.slice(-SHOWN);
      rendered = new Map(messages.map((m) => [m.id, line(m)]));
      list.replaceChildren(...rendered.values());
    });
  }

  function mutedText(untilMs) {
    return `${say("muted")} until ${timeOfDay(untilMs, hub.state.clockOffsetMs)}`;
  }

  function refusal(error) {
    if (error.code === "muted" && error.untilMs) return mutedText(error.untilMs);
    if (error.code === "slow_mode" && error.retryAfterMs) {
      return `${say("slow_mode")} (${Math.ceil(error.retryAfterMs / 1000)} s)`;
    }
    return say(error.code);
  }

  hub.subscribe((change, state) => {
    if (change.kind === "reset") renderAll();
    if (change.kind === "reset" || change.kind === "resumed") {
      input.maxLength = state.limits?.chat_max_chars ?? 500;
      const until = state.you.muted_until_ms;
      if (until && until > hub.serverNow()) showResult(result, "refused", mutedText(until));
    }
    if (change.kind === "personal" && change.message.type === "muted") {
      showResult(result, "refused", mutedText(change.message.until_ms));
    }
    if (change.kind === "personal" && change.message.type === "unmuted") {
      showResult(result, "ok", "You can chat again");
    }
    if (change.kind !== "event") return;
    const { event } = change;
    if (event.type === "chat") {
      const message = state.chat[state.chat.length - 1];
      if (message?.id === event.id) {
        stickToBottom(() => {
          const el = line(message);
          rendered.set(message.id, el);
          list.append(el);
          while (list.children.length > SHOWN) {
            rendered.delete(list.firstElementChild.dataset.id);
            list.firstElementChild.remove();
          }
        });
      }
    } else if (event.type === "message_deleted") {
      rendered.get(event.data.message_id)?.remove();
      rendered.delete(event.data.message_id);
    }
  });

  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    if (!hub.token && !(await signIn())) {
      showResult(result, "refused", say("token_missing"));
      return;
    }
    send.disabled = true;
    send.setAttribute("aria-busy", "true");
    showResult(result, "pending", "Sending…");
    try {
      await hub.request("chat", { text });
      input.value = "";
      showResult(result, "ok", "");
    } catch (error) {
      showResult(result, "refused", refusal(error));
    } finally {
      send.disabled = false;
      send.removeAttribute("aria-busy");
    }
  });
  renderAll();
}
