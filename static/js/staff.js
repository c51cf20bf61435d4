// What the two staff pages (the studio and the moderator page) share: who the page acts
// as (a staff token from the link's fragment, checked by the hub's hello), the show's
// header and connection state, and an action's outcome said in place, in words.
//
// The server decides every permission; the page only says what the hello told it (a
// viewer or a signed-out visitor is told this page is for staff) and words each refusal
// for the person who tapped.

import { showResult } from "./format.js";
import { say } from "./messages.js";

export const STAFF_ROLES = new Set(["streamer", "moderator", "admin"]);

const STATE_WORDS = { scheduled: "Scheduled", live: "Live", ended: "Ended" };

// Staff tokens are not made by signing up, so the viewer's "Sign up again" words do
// not fit a staff page.
const STAFF_CODES = {
  token_missing: "staff_link_needed",
  token_invalid: "staff_token_invalid",
  token_expired: "staff_token_expired",
  unauthenticated: "staff_link_needed",
};

/** The words for a refused staff action: `error` is a HubError, an ApiError or a
 * PublishError; `role` is the role the hello named. */
export function staffSay(error, role) {
  const code = error?.code ?? null;
  if (code === "forbidden" && role === "moderator") return say("moderator_forbidden");
  if (code === "forbidden" && (role === "viewer" || !role)) return say("not_staff");
  return say(STAFF_CODES[code] ?? code);
}

/**
 * Run one action from `button` and say its outcome in `result`: "pending" words while it
 * runs, then what `run()` resolves to (the words for done) or the refusal in words.
 * The button is busy meanwhile, so a second tap cannot send it twice; it is marked
 * aria-disabled rather than disabled, so a keyboard user's focus stays on it.
 */
export async function perform(button, result, pendingText, run, role = () => null) {
  if (button?.getAttribute("aria-busy") === "true") return false;
  if (button) {
    button.setAttribute("aria-busy", "true");
    button.setAttribute("aria-disabled", "true");
  }
  showResult(result, "pending", pendingText);
  try {
    const done = await run();
    showResult(result, "ok", done ?? "");
    return true;
  } catch (error) {
    if (!error?.code) console.error("livecart:", error);
    showResult(result, "refused", staffSay(error, role()));
    return false;
  } finally {
    if (button) {
      button.removeAttribute("aria-busy");
      button.removeAttribute("aria-disabled");
    }
  }
}

/**
 * The show's header (title, state, viewers) and the banners saying whether the page is
 * connected and whether its token is staff of this show. `kind` names the page in
 * its title ("Studio", "Moderation"). Until the hello, nothing is decided;
 * without a staff role the page's work is hidden (body[data-access="denied"]).
 */
export function mountStaffHeader({ hub, kind }) {
  const $ = (id) => document.getElementById(id);
  const connection = $("connection");
  const access = $("access");

  function render(state) {
    const s = state.show;
    if (s) {
      $("show-title").textContent = s.title;
      document.title = `${kind} · ${s.title} · livecart`;
      const badge = $("show-state");
      badge.textContent = STATE_WORDS[s.state] ?? s.state;
      badge.classList.toggle("lc-badge--live", s.state === "live");
      $("viewers").hidden = false;
      $("viewers-count").textContent = String(state.viewers);
    }
    const sales = $("sales-banner"); // the studio's: the streamer hears of a moderator's pause
    if (sales) {
      const paused = s?.sales === "paused";
      sales.hidden = !paused;
      sales.textContent = paused ? `Sales are paused${s.sales_reason ? `: ${s.sales_reason}` : ""}. Viewers can't buy until sales resume.` : "";
    }
    const { user, role } = state.you;
    $("who").textContent = user ? `Signed in as ${user} (${role})` : "";

    let text = "";
    if (state.status === "reconnecting") text = "Connection lost. Reconnecting…";
    if (state.status === "stopped" && state.stopped) text = staffSay(state.stopped, null);
    connection.hidden = !text;
    connection.textContent = text;
    document.body.dataset.connection = state.status;

    let denied = null;
    if (state.status === "stopped" && state.stopped) denied = text;
    else if (s && !STAFF_ROLES.has(role)) denied = say(role ? "not_staff" : "staff_link_needed");
    document.body.dataset.access = denied ? "denied" : s ? "staff" : "unknown";
    access.hidden = !denied || denied === text;
    access.textContent = denied && denied !== text ? denied : "";
  }

  hub.subscribe((change, state) => render(state));
  render(hub.state);
}
