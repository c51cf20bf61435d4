// The HTTP API from a page: JSON in and out, a bearer token or the merchant's API key,
// and every refusal turned into an ApiError that keeps the server's stable `code` and
// the `field` it names (docs/api.md, "Errors"), so a page shows words, never raw codes.

import { say } from "./messages.js";

export class ApiError extends Error {
  constructor(status, body) {
    const code = body?.error ?? body?.result ?? (status >= 500 ? "server_error" : "invalid");
    super(body?.message || say(code));
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.field = body?.field ?? null;
    this.errors = Array.isArray(body?.errors) ? body.errors : []; // every bad field, when sent
    this.retryAfterMs = body?.retry_after_ms ?? null;
    this.body = body ?? null;
  }
}

/**
 * `await api("/api/shows/s1")`; `await api("/api/buyers", {method: "POST", body})`.
 * Resolves to the parsed JSON (null for an empty answer); rejects with ApiError, whose
 * `code` is "network" when the server could not be reached at all.
 */
export async function api(path, { method = "GET", body, token, apiKey, query, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  if (apiKey) headers["X-API-Key"] = apiKey;
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
    }
    const text = params.toString();
    if (text) url += (url.includes("?") ? "&" : "?") + text;
  }
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (error?.name === "AbortError") throw error;
    throw new ApiError(0, { error: "network", message: say("network") });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: response.ok ? "server_error" : "invalid", message: text.slice(0, 200) };
    }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}
