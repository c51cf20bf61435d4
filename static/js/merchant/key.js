// The merchant's API key, for this tab only: kept in sessionStorage (gone when the tab
// closes, never in localStorage or a cookie), sent as X-API-Key by every console call.

import { ApiError, api } from "../api.js";

const KEY = "livecart.merchant.api_key";

function store() {
  try {
    return window.sessionStorage;
  } catch {
    return null; // storage disabled: the key lives in this page's memory only
  }
}

let memoryKey = null;

export function apiKey() {
  return store()?.getItem(KEY) || memoryKey;
}

export function keepKey(key) {
  memoryKey = key;
  store()?.setItem(KEY, key);
}

export function forgetKey() {
  memoryKey = null;
  store()?.removeItem(KEY);
}

/** A console call: the shared `api()` with this tab's key. */
export function call(path, options = {}) {
  return api(path, { ...options, apiKey: apiKey() });
}

/**
 * Send a file as it is (CSV must reach the server byte for byte, so its row numbers
 * are the file's): the one call `api()` cannot make, since it sends JSON. Refusals
 * become the same ApiError.
 */
export async function upload(path, body, contentType) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": contentType, "X-API-Key": apiKey(), Accept: "application/json" },
      body,
    });
  } catch {
    throw new ApiError(0, { error: "network" });
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = { error: "server_error" };
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
