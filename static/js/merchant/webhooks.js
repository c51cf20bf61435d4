// Webhooks: a brand's endpoint and signing secret, its deliveries with their state,
// and the dead letters of every brand, each of which can be sent again.

import { h } from "../format.js";
import { call } from "./key.js";
import * as lists from "./lists.js";
import { when } from "./units.js";
import { copyButton } from "../copy.js";
import { FieldError, cells, onSubmit, pager, perform } from "./ui.js";

const $ = (id) => document.getElementById(id);
const STATUS_WORDS = { pending: "Being tried", delivered: "Delivered", dead: "Dead letter" };

let deliveryPager;
let deadPager;

const brand = () => $("webhook-brand").value;
const hookPath = () => `/api/brands/${encodeURIComponent(brand())}/webhook`;

export function start() {
  deliveryPager = pager({
    tbody: $("deliveries-body"),
    more: $("deliveries-more"),
    result: $("deliveries-result"),
    columns: 6,
    emptyText: "No deliveries for this brand yet.",
    load: (after) =>
      brand() ? call(`${hookPath()}/deliveries`, { query: { after } }) : { items: [], next: null },
    row: deliveryRow,
  });
  deadPager = pager({
    tbody: $("dead-body"),
    more: $("dead-more"),
    result: $("dead-result"),
    columns: 6,
    emptyText: "No dead letters.",
    load: (after) => call("/api/webhooks/dead", { query: { after } }),
    row: deadRow,
  });
  $("webhook-secret-row").append(copyButton($("webhook-secret"), "Copy secret"));
  $("webhook-brand").addEventListener("change", showBrand);
  $("deliveries-reload").addEventListener("click", () => deliveryPager.reload());
  $("dead-reload").addEventListener("click", () => deadPager.reload());
  onSubmit($("webhook-form"), saveEndpoint);
  $("webhook-remove").addEventListener("click", removeEndpoint);
  lists.whenChanged("brands", loadBrands);
  loadBrands();
  deadPager.reload();
}

export function reopen() {
  showBrand();
  deadPager.reload();
}

async function loadBrands() {
  const form = $("webhook-form");
  let any = false;
  const loaded = await perform(form, form.querySelector(".lc-result"), async () => {
    const brands = await lists.brands();
    lists.fillSelect($("webhook-brand"), brands, { value: (b) => b.id, label: (b) => `${b.name} (${b.id})` });
    any = brands.length > 0;
    return any ? "" : "Create a brand first (Catalog).";
  }, "Loading brands…");
  if (loaded && any) await showBrand();
}

function showEndpoint(endpoint) {
  $("webhook-url").value = endpoint?.url ?? "";
  $("webhook-secret").value = endpoint?.secret ?? "";
  $("webhook-remove").hidden = !endpoint;
  $("webhook-rotate").checked = false;
}

async function showBrand() {
  const form = $("webhook-form");
  const result = form.querySelector(".lc-result");
  if (!brand()) {
    showEndpoint(null);
    return;
  }
  await perform(form, result, async () => {
    try {
      showEndpoint(await call(hookPath()));
      return `${brand()} sends orders to this endpoint.`;
    } catch (error) {
      if (error.code !== "not_found" || error.field !== "webhook") throw error;
      showEndpoint(null);
      return `${brand()} has no endpoint yet.`;
    }
  }, "Loading the endpoint…");
  await deliveryPager.reload();
}

async function saveEndpoint(form) {
  if (!brand()) throw new FieldError("url", "Create a brand first (Catalog)");
  const url = form.elements.url.value.trim();
  if (!url) throw new FieldError("url", "Write the address your shop receives webhooks at");
  const rotate = form.elements.rotate_secret.checked;
  const endpoint = await call(hookPath(), { method: "PUT", body: { url, rotate_secret: rotate } });
  showEndpoint(endpoint);
  return rotate ? "Saved, with a new signing secret. Update your shop's copy now." : "Endpoint saved.";
}

function removeEndpoint() {
  const form = $("webhook-form");
  perform(form, form.querySelector(".lc-result"), async () => {
    await call(hookPath(), { method: "DELETE" });
    showEndpoint(null);
    return `Removed. ${brand()}'s orders are no longer sent anywhere.`;
  }, "Removing…");
}

function lastAnswer(d) {
  if (d.last_status && d.status === "delivered") return `HTTP ${d.last_status}`;
  return d.last_error ?? (d.last_status ? `HTTP ${d.last_status}` : "Not tried yet");
}

function redeliverButton(id, result, after) {
  const button = h("button", { type: "button", class: "lc-button lc-button--small" }, "Send again");
  button.addEventListener("click", () =>
    perform(button.parentElement, result, async () => {
      await call(`/api/webhooks/dead/${encodeURIComponent(id)}/redeliver`, { method: "POST" });
      button.replaceWith(h("span", { class: "lc-ok" }, "Sent again ✓"));
      after();
      return `The message for ${id.replace(/^msg_/, "order ")} is being sent again.`;
    }, "Sending again…"),
  );
  return button;
}

function deliveryRow(d) {
  const action = d.status === "dead" ? redeliverButton(d.id, $("deliveries-result"), () => deadPager.reload()) : "";
  return h(
    "tr",
    {},
    cells(d.order ?? d.id, when(d.created_at_ms), STATUS_WORDS[d.status] ?? d.status, d.attempts, lastAnswer(d), action),
  );
}

function deadRow(d) {
  const action = d.brand ? redeliverButton(d.id, $("dead-result"), () => deliveryPager.reload()) : "Cannot be sent: malformed";
  return h(
    "tr",
    {},
    cells(d.order ?? d.id, d.brand ?? "—", d.attempts, d.last_error ?? "—", when(d.dead_at_ms), action),
  );
}

