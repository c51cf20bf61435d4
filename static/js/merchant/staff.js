// Staff links: a token minted with POST /api/tokens for one show, put in the fragment of
// the studio or moderator page's address (`/studio/SHOW#token=...`): a fragment never
// reaches a server or its logs. The page takes it from there and keeps it for its tab.

import { h } from "../format.js";
import { call } from "./key.js";
import { when } from "./units.js";
import { copyButton } from "../copy.js";
import { FieldError, onSubmit, openDialog, perform, report } from "./ui.js";

const $ = (id) => document.getElementById(id);
const PAGES = { streamer: "studio", moderator: "moderate" };
const WORDS = { streamer: "Studio", moderator: "Moderator" };
const MAX_HOURS = 8784; // 366 days: the longest a token may live

let linkShow = null;

/** The address of the staff page for `role` in `show`, signed in by `token`. */
export function staffLink(role, show, token) {
  return `${location.origin}/${PAGES[role]}/${encodeURIComponent(show)}#token=${encodeURIComponent(token)}`;
}

async function mint(role, show, sub, hours) {
  const answer = await call("/api/tokens", {
    method: "POST",
    body: { sub, role, show, ttl_s: hours * 3600 },
  });
  return { url: staffLink(role, show, answer.token), expiresAtMs: answer.expires_at * 1000 };
}

/** Open the show's studio in a new tab as the merchant (a streamer token for 12 hours). */
export function openStudio(show, result) {
  // The tab is opened at the tap (a pop-up blocker allows that), then sent on.
  const tab = window.open("about:blank", "_blank");
  return perform(result.parentElement, result, async () => {
    try {
      const { url } = await mint("streamer", show, "merchant", 12);
      if (tab) tab.location.href = url;
      else location.href = url;
      return `The studio of ${show} opened in a new tab.`;
    } catch (error) {
      tab?.close();
      throw error;
    }
  }, "Opening the studio…");
}

export function openStaffLinks(show) {
  linkShow = show;
  const form = $("staff-form");
  if (!form.dataset.wired) {
    form.dataset.wired = "yes";
    onSubmit(form, makeLink, "Making the link…");
  }
  $("staff-dialog-title").textContent = `Staff links for ${show}`;
  report(form.querySelector(".lc-result"), "ok", "");
  $("staff-links").replaceChildren();
  openDialog($("staff-dialog"));
}

async function makeLink(form) {
  const role = form.elements.role.value;
  const sub = form.elements.sub.value.trim();
  if (!sub) throw new FieldError("sub", "Write the user id of the person the link is for");
  const hoursText = form.elements.ttl_s.value.trim();
  if (!/^\d{1,4}$/.test(hoursText) || Number(hoursText) < 1 || Number(hoursText) > MAX_HOURS) {
    throw new FieldError("ttl_s", `Write a whole number of hours from 1 to ${MAX_HOURS}`);
  }
  const { url, expiresAtMs } = await mint(role, linkShow, sub, Number(hoursText));
  const id = `staff-link-${$("staff-links").children.length}`;
  const input = h("input", { id, class: "lc-input mc-grow", readonly: true, value: url });
  $("staff-links").prepend(
    h(
      "li",
      { class: "lc-field" },
      h("label", { for: id }, `${WORDS[role]} link for ${sub}, valid until ${when(expiresAtMs)}`),
      h(
        "div",
        { class: "lc-row mc-copy-row" },
        input,
        copyButton(input, "Copy link"),
        h("a", { href: url, target: "_blank", rel: "noopener", class: "lc-button lc-button--small" }, "Open"),
      ),
    ),
  );
  return `${WORDS[role]} link made for ${sub}. Copy it and send it to them.`;
}
