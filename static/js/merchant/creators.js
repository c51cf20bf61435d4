// Creators: the list with each one's showcase page, adding a creator, setting the
// products they showcase, and reading what they have earned.

import { h, money } from "../format.js";
import { call } from "./key.js";
import * as lists from "./lists.js";
import { when } from "./units.js";
import { cells, explain, onSubmit, openDialog, pager, report } from "./ui.js";

const $ = (id) => document.getElementById(id);
const SOURCES = { show: "Their show", link: "Their share link" };

let creatorPager;
let earningsPager;
let earningsOf = null;
let showcaseOf = null;

export function start() {
  creatorPager = pager({
    tbody: $("creators-body"),
    more: $("creators-more"),
    result: $("creators-result"),
    columns: 4,
    emptyText: "No creators yet. Add the first one below.",
    load: (after) => call("/api/creators", { query: { after } }),
    row: creatorRow,
  });
  earningsPager = pager({
    tbody: $("earnings-body"),
    more: $("earnings-more"),
    result: $("earnings-result"),
    columns: 6,
    emptyText: "No commission yet.",
    load: loadEarnings,
    row: earningRow,
  });
  onSubmit($("creator-form"), createCreator);
  onSubmit($("showcase-form"), saveShowcase);
  creatorPager.reload();
}

export function reopen() {
  creatorPager.reload();
}

function creatorRow(creator) {
  const page = `/c/${encodeURIComponent(creator.id)}`;
  const button = (label, action) => {
    const b = h("button", { type: "button", class: "lc-button lc-button--small" }, label);
    b.addEventListener("click", action);
    return b;
  };
  const actions = h(
    "span",
    { class: "mc-actions" },
    button("Earnings", () => openEarnings(creator)),
    button("Showcase", () => openShowcase(creator)),
  );
  const link = h("a", { href: page, target: "_blank", rel: "noopener" }, page);
  return h("tr", {}, cells(creator.id, creator.name, link, actions));
}

async function createCreator(form) {
  const body = { id: form.elements.id.value.trim(), name: form.elements.name.value.trim() };
  const creator = await call("/api/creators", { method: "POST", body });
  form.reset();
  creatorPager.reload();
  lists.announce("creators");
  return `${creator.name} (${creator.id}) added.`;
}

// --- earnings ----------------------------------------------------------------------------

async function loadEarnings(after) {
  const answer = await call(`/api/creators/${encodeURIComponent(earningsOf.id)}/earnings`, { query: { after } });
  const totals = Object.entries(answer.totals).map(([currency, minor]) => money(minor, currency));
  const reversed = Object.entries(answer.reversed ?? {})
    .filter(([, minor]) => minor > 0)
    .map(([currency, minor]) => money(minor, currency));
  $("earnings-totals").textContent = totals.length
    ? `Owed in all: ${totals.join(" + ")}` +
      (reversed.length ? ` (after ${reversed.join(" + ")} taken back for cancels and refunds).` : ".")
    : `${earningsOf.name} has earned no commission yet.`;
  return answer;
}

// A reversal (a cancel or a refund taking commission back) reads as a negative amount.
function earningRow(entry) {
  const reversal = entry.kind === "reversal";
  return h(
    "tr",
    {},
    cells(
      reversal ? `${entry.order} (${entry.event === "order.cancelled" ? "cancelled" : "refunded"})` : entry.order,
      when(reversal ? entry.at_ms : entry.confirmed_at_ms),
      entry.show,
      SOURCES[entry.source] ?? entry.source,
      money(entry.total, entry.currency),
      reversal ? `−${money(entry.amount, entry.currency)}` : money(entry.commission, entry.currency),
    ),
  );
}

function openEarnings(creator) {
  earningsOf = creator;
  $("earnings-dialog-title").textContent = `Earnings of ${creator.name}`;
  $("earnings-totals").textContent = "";
  openDialog($("earnings-dialog"));
  earningsPager.reload();
}

// --- showcase ----------------------------------------------------------------------------

async function openShowcase(creator) {
  showcaseOf = creator;
  const form = $("showcase-form");
  form.reset();
  $("showcase-dialog-title").textContent = `Showcase of ${creator.name}`;
  openDialog($("showcase-dialog"));
  const result = form.querySelector(".lc-result");
  report(result, "pending", "Loading the showcase…");
  try {
    const shown = await call(`/api/creators/${encodeURIComponent(creator.id)}/showcase`);
    form.elements.skus.value = shown.items.map((p) => p.sku).join("\n");
    report(result, "ok", "");
  } catch (error) {
    report(result, "refused", `The showcase could not be read. ${explain(error)}`);
  }
}

async function saveShowcase(form) {
  const skus = form.elements.skus.value
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter(Boolean);
  await call(`/api/creators/${encodeURIComponent(showcaseOf.id)}/showcase`, { method: "PUT", body: { skus } });
  return skus.length ? `Saved: ${skus.length} products on ${showcaseOf.name}'s page.` : "Saved: the showcase is empty.";
}
