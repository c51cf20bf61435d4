// The merchant console: the API-key gate, then one section at a time (Catalog, Shows,
// Orders, Webhooks, Creators) chosen by the address's #fragment, each started the first
// time it is opened.

import { api } from "../api.js";
import * as catalog from "./catalog.js";
import * as creators from "./creators.js";
import { apiKey, forgetKey, keepKey } from "./key.js";
import * as orders from "./orders.js";
import * as shows from "./shows.js";
import { FieldError, onSubmit, perform } from "./ui.js";
import * as webhooks from "./webhooks.js";

const SECTIONS = { catalog, shows, orders, webhooks, creators };
const started = new Set();

const gate = document.getElementById("key-gate");
const consoleRoot = document.getElementById("console");
const keyForm = document.getElementById("key-form");
const forget = document.getElementById("forget-key");

/** Ask the server whether `key` is the API key (a one-item listing needs it). */
async function checkKey(key) {
  try {
    await api("/api/brands", { apiKey: key, query: { limit: 1 } });
  } catch (error) {
    if (error.code === "api_key_invalid") error.field = "api_key";
    throw error;
  }
}

function openConsole() {
  gate.hidden = true;
  consoleRoot.hidden = false;
  forget.hidden = false;
  showSection();
}

function showSection() {
  if (consoleRoot.hidden) return;
  const wanted = location.hash.slice(1);
  const name = wanted in SECTIONS ? wanted : "catalog";
  for (const id of Object.keys(SECTIONS)) {
    document.getElementById(id).hidden = id !== name;
  }
  for (const link of consoleRoot.querySelectorAll(".mc-tabs a")) {
    if (link.hash === `#${name}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!started.has(name)) {
    started.add(name);
    SECTIONS[name].start();
  } else {
    SECTIONS[name].reopen?.();
  }
}

onSubmit(
  keyForm,
  async (form) => {
    const key = form.elements.api_key.value.trim();
    if (!key) throw new FieldError("api_key", "Paste your API key first");
    await checkKey(key);
    keepKey(key);
    form.reset();
    openConsole();
    return "Signed in.";
  },
  "Checking the key…",
);

forget.addEventListener("click", () => {
  forgetKey();
  location.hash = "";
  location.reload();
});

window.addEventListener("hashchange", showSection);

// A key kept from earlier in this tab: check it again (it may have been changed since).
const kept = apiKey();
if (kept) {
  keyForm.elements.api_key.value = kept;
  perform(keyForm, keyForm.querySelector(".lc-result"), async () => {
    try {
      await checkKey(kept);
    } catch (error) {
      if (error.code === "api_key_invalid") forgetKey(); // changed since: paste the new one
      throw error;
    } finally {
      keyForm.elements.api_key.value = "";
    }
    openConsole();
    return "Signed in.";
  }, "Checking the key…");
}
