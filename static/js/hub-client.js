// The one client of the live hub (docs/protocol.md, version 1), shared by every page.
//
// It is the page's single source of truth: it holds the show's state (the hello's
// snapshot, then every event applied in stream-id order) and tells the parts that
// subscribe what changed; they render from `hub.state`. A request (buy, chat, pin...)
// returns a promise settled by its own reply, never by a guess: the page shows a
// pending state until then.
//
// What it keeps for the page: the resume bookkeeping (`last` + `epoch`, sent back after
// a drop, so nothing is missed); a fresh snapshot when a resume is impossible or the
// show was recreated; every close code handled as the protocol says (backoff with full
// jitter, `retry_after_ms` for 4429, at once for 1012, stop for 4403 / 4404, a new token
// for 4401); pings a browser cannot see, sent as messages; buys and checkouts resent with
// the same idempotency key after a drop, so a tap is never lost and never doubled.

import { applyAuctionEvent, newerView } from "./auction-state.js";
import { say } from "./messages.js";

export const PROTOCOL = 1;
const MAX_CHAT = 200; // messages kept on the page; older ones scroll away
const PING_EVERY_MS = 20_000; // silence after which the page asks whether the socket lives
const PING_TIMEOUT_MS = 6_000; // no answer within this: the socket is dead, resume
const WATCH_EVERY_MS = 2_000;
const MAX_BACKOFF_MS = 30_000;
const FLOOD_BACKOFF_MS = 10_000;
const CLIENT_CLOSE = 4000; // our own close: a new token, a dead socket, another epoch
// Events that change what is shown over the video: they wait for the frame they belong to.
export const PRESENTED_EVENTS = new Set(["pinned", "unpinned", "flash_started", "flash_ended"]);
// Requests safe to send again after a drop: their idempotency key returns the first outcome.
const RESENT = new Set(["buy", "checkout"]);
// Personal messages about auctions and giveaways (docs/protocol.md): to this user only, at
// once, never replayed. Parts hear them as change.kind "personal".
const PERSONAL = new Set([
  "outbid",
  "auction_won",
  "auction_lost",
  "auction_offer",
  "auction_payment",
  "giveaway_won",
  "giveaway_payment",
]);
// Closes that mean the page itself is wrong (docs/protocol.md, "Close codes").
const CLIENT_BUG_CLOSES = new Set([1002, 1003, 1007, 1009]);

/** A stream id "ms-seq" as two integers (never compared as strings: "9-0" < "10-0"). */
export function parseId(id) {
  const dash = id.indexOf("-");
  return [Number(id.slice(0, dash)), Number(id.slice(dash + 1))];
}

export function compareIds(a, b) {
  const [am, aq] = parseId(a);
  const [bm, bq] = parseId(b);
  return am !== bm ? Math.sign(am - bm) : Math.sign(aq - bq);
}

/** The ms part of an event id: when it happened, by Redis' clock. */
export function idMs(id) {
  return parseId(id)[0];
}

/** A refused request (an `error` reply) or a request the connection lost. */
export class HubError extends Error {
  constructor(reply) {
    super(reply.message || say(reply.code));
    this.name = "HubError";
    this.code = reply.code;
    this.field = reply.field ?? null;
    this.retryAfterMs = reply.retry_after_ms ?? null;
    this.untilMs = reply.until_ms ?? null;
    this.reply = reply;
  }
}

export function hubUrl(show) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws/shows/${encodeURIComponent(show)}`;
}

function emptyState() {
  return {
    status: "connecting", // connecting | live | reconnecting | stopped
    stopped: null, // {code}: why the page no longer connects (banned, show_missing...)
    you: { user: null, role: null, muted_until_ms: null },
    limits: null,
    staff: null,
    show: null, // the show as GET /api/shows/{show} has it, less the lineup
    lineup: new Map(), // sku -> product card with live `stock`
    chat: [], // {id, user, text, staff, sent_at_ms}, oldest first
    slowModeS: 0,
    viewers: 0,
    sold: new Map(), // sku -> units sold in the show, from `sold` events seen
    moderation: { muted: new Map(), banned: new Set(), blockedKeywords: [] },
    clockOffsetMs: 0, // Redis' clock minus this page's
    epoch: null,
    last: null,
  };
}

/**
 * `createHubClient({show, token})`; options:
 * - `schedule(event, apply)`: called for PRESENTED_EVENTS; call `apply()` when the
 *   video shows the frame the event belongs to (default: at once).
 * - `renewToken(code)`: after a 4401, resolve to a new token, or null to go on
 *   watching without one; without it the client stops.
 * - `url`: the socket's URL without query (default: this page's host).
 */
export function createHubClient(options) {
  return new HubClient(options);
}

class HubClient {
  constructor({ show, token = null, schedule = null, renewToken = null, url = null }) {
    this.show = show;
    this.token = token;
    this.schedule = schedule;
    this.renewToken = renewToken;
    this.url = url || hubUrl(show);
    this.state = emptyState();
    this.subscribers = new Set();
    this.pending = new Map(); // req -> {message, resolve, reject, resend, sent}
    this.seq = 0;
    this.attempt = 0;
    this.generation = 0; // bumped by a snapshot: scheduled applies from before it are void
    this.stockSeen = new Map(); // sku -> id of the newest stock figure applied
    this.ws = null;
    this.ready = false; // hello received on the current socket
    this.closing = null; // why we closed the socket ourselves
    this.refusal = null; // the `error` that came before a refusal close
    this.retryTimer = null;
    this.watchTimer = null;
    this.renewing = false;
    this.lastHeard = 0;
    this.pingSentAt = 0;
    this.onOnline = () => this.reconnectNow();
    window.addEventListener("online", this.onOnline);
    this.connect();
  }

  // --- what the page uses ---------------------------------------------------------

  /** `fn(change, state)` after every change; returns a function that unsubscribes.
   * change.kind: reset | resumed | event (change.event) | merge | personal
   * (change.message) | status. */
  subscribe(fn) {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  /** Redis' clock now, as this page best knows it (what flash sales are timed by). */
  serverNow() {
    return Date.now() + this.state.clockOffsetMs;
  }

  product(sku) {
    return sku ? this.state.lineup.get(sku) ?? null : null;
  }

  /**
   * Send a message; resolves with its `ack` or `order` reply, rejects with a HubError
   * for an `error` reply, a lost connection (`connection_lost`) or a stopped client.
   * Buys and checkouts are resent after a drop instead (same req, same key).
   */
  request(type, fields = {}, { resend = RESENT.has(type) } = {}) {
    if (this.state.status === "stopped") {
      return Promise.reject(new HubError({ code: this.state.stopped?.code ?? "connection_lost" }));
    }
    const req = `r${++this.seq}`;
    const message = { ...fields, type, req };
    return new Promise((resolve, reject) => {
      const entry = { message, resolve, reject, resend, sent: false };
      this.pending.set(req, entry);
      if (this.ready) this.sendEntry(entry);
    });
  }

  /** An auction or giveaway view from a reply (a bid's, an entry's): newer than what the
   * events said so far, it is taken now rather than a tick later. An older one is not. */
  learn(kind, view) {
    const show = this.state.show;
    if (!show || !view || !newerView(show[kind], view)) return;
    const same = show[kind]?.id === view.id;
    show[kind] = same ? { ...show[kind], ...view } : { ...view }; // staff notes of the same one stay
    this.notify({ kind: "merge" });
  }

  /** Act as another user (after signing up, with a renewed token): resume with it. */
  setToken(token) {
    this.token = token || null;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) {
      this.closing = "token";
      this.ready = false; // what is sent from now waits for the new socket's hello
      this.ws.close(CLIENT_CLOSE, "new token");
    } else {
      this.reconnectNow();
    }
  }

  /** Stop for good (the page goes away). */
  close() {
    this.stop(null);
  }

  // --- the socket ------------------------------------------------------------------

  connect() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const params = new URLSearchParams();
    if (this.token) params.set("token", this.token);
    if (this.state.last && this.state.epoch) {
      params.set("last", this.state.last);
      params.set("epoch", this.state.epoch);
    }
    const query = params.toString();
    this.closing = null;
    this.refusal = null;
    this.ready = false;
    const ws = new WebSocket(query ? `${this.url}?${query}` : this.url);
    this.ws = ws;
    ws.onmessage = (message) => {
      if (ws === this.ws) this.receive(message.data);
    };
    ws.onclose = (event) => {
      if (ws === this.ws) this.closed(event.code, event.reason);
    };
  }

  reconnectNow() {
    if (this.state.status === "stopped" || this.ws) return;
    this.connect();
  }

  receive(data) {
    this.lastHeard = Date.now();
    let m;
    try {
      m = JSON.parse(data);
    } catch {
      return; // the server sends JSON; anything else is not ours to act on
    }
    switch (m.type) {
      case "hello":
        this.hello(m);
        break;
      case "events":
        this.frame(m);
        break;
      case "state":
        this.merge(m.stock, m.viewers);
        this.notify({ kind: "merge" });
        break;
      case "ack":
      case "order":
      case "bid":
      case "error":
        if (m.req !== undefined && this.pending.has(m.req)) this.settle(m);
        else if (m.type === "error") this.refusal = m; // comes before a refusal close
        break;
      case "muted":
        this.state.you.muted_until_ms = m.until_ms;
        this.notify({ kind: "personal", message: m });
        break;
      case "unmuted":
        this.state.you.muted_until_ms = null;
        this.notify({ kind: "personal", message: m });
        break;
      default:
        if (PERSONAL.has(m.type)) this.notify({ kind: "personal", message: m });
        break; // version 1 may add message types: ignore them
    }
  }

  hello(m) {
    if (m.protocol !== PROTOCOL) {
      this.stop("protocol_mismatch");
      return;
    }
    const s = this.state;
    this.attempt = 0;
    this.ready = true;
    s.epoch = m.epoch;
    s.clockOffsetMs = m.server_time_ms - Date.now();
    s.you = { ...m.you };
    s.limits = m.limits ?? null;
    s.staff = m.staff ?? null;
    if (m.mode === "snapshot") {
      this.reset(m);
    } else {
      this.merge(m.state?.stock, m.state?.viewers);
    }
    this.setStatus("live");
    this.notify({ kind: m.mode === "snapshot" ? "reset" : "resumed" });
    for (const entry of this.pending.values()) {
      if (!entry.sent) this.sendEntry(entry);
    }
    this.watch();
  }

  reset(m) {
    const s = this.state;
    const { lineup = [], ...show } = m.snapshot.show;
    this.generation += 1;
    this.stockSeen.clear();
    s.show = show;
    s.lineup = new Map(lineup.map((p) => [p.sku, { ...p }]));
    s.chat = (m.snapshot.chat ?? []).slice(-MAX_CHAT);
    s.slowModeS = m.snapshot.slow_mode_s ?? 0;
    s.viewers = show.viewers ?? 0;
    s.sold = new Map();
    s.moderation = {
      muted: new Map(),
      banned: new Set(),
      blockedKeywords: m.staff?.blocked_keywords ?? [],
    };
    s.last = m.last_event_id;
  }

  merge(stock, viewers) {
    const s = this.state;
    for (const [sku, units] of Object.entries(stock ?? {})) {
      const product = s.lineup.get(sku);
      if (product) product.stock = units;
      if (s.last) this.stockSeen.set(sku, s.last);
    }
    if (viewers) {
      s.viewers = viewers;
      if (s.show) s.show.viewers = viewers;
    }
  }

  frame(m) {
    const s = this.state;
    if (m.epoch !== s.epoch) {
      // The show was recreated: every id we hold is meaningless. Start from a snapshot.
      s.last = null;
      s.epoch = null;
      this.drop("epoch");
      return;
    }
    for (const event of m.events) {
      if (s.last !== null && compareIds(event.id, s.last) <= 0) continue; // seen already
      s.last = event.id;
      if (this.schedule && PRESENTED_EVENTS.has(event.type)) {
        const generation = this.generation;
        this.schedule(event, () => {
          if (generation === this.generation) this.apply(event);
        });
      } else {
        this.apply(event);
      }
    }
    if (s.last === null || compareIds(m.last, s.last) > 0) s.last = m.last;
  }

  apply(event) {
    applyEvent(this.state, event, this.stockSeen);
    this.notify({ kind: "event", event });
  }

  settle(m) {
    const entry = this.pending.get(m.req);
    this.pending.delete(m.req);
    if (m.type === "error") entry.reject(new HubError(m));
    else entry.resolve(m);
    if (m.type === "error" && m.code === "token_expired") this.expired();
  }

  /** The token ran out during the session: events still come, but nothing can be done
   * with it. Ask the page for another and resume with it (or watch without one). */
  async expired() {
    if (!this.renewToken || this.renewing) return;
    this.renewing = true;
    try {
      this.setToken(await this.renewToken("token_expired"));
    } catch {
      this.stop("token_expired");
    } finally {
      this.renewing = false;
    }
  }

  sendEntry(entry) {
    entry.sent = true;
    this.ws.send(JSON.stringify(entry.message));
  }

  /** Pings: a browser cannot see the server's, so the page asks when it heard nothing. */
  watch() {
    clearInterval(this.watchTimer);
    this.pingSentAt = 0;
    this.watchTimer = setInterval(() => {
      if (!this.ready) return;
      const now = Date.now();
      if (this.pingSentAt && now - this.pingSentAt > PING_TIMEOUT_MS) {
        if (this.lastHeard < this.pingSentAt) {
          this.drop("dead");
          return;
        }
        this.pingSentAt = 0;
      }
      if (!this.pingSentAt && now - this.lastHeard > PING_EVERY_MS) {
        this.pingSentAt = now;
        this.request("ping").catch(() => {});
      }
    }, WATCH_EVERY_MS);
  }

  /** Close the socket ourselves; `closed` then reconnects as `why` says. */
  drop(why) {
    this.closing = why;
    this.ready = false;
    if (this.ws) this.ws.close(CLIENT_CLOSE, why);
  }

  closed(code, reason) {
    const why = this.closing;
    this.ws = null;
    this.ready = false;
    clearInterval(this.watchTimer);
    for (const [req, entry] of this.pending) {
      if (entry.sent && !entry.resend) {
        this.pending.delete(req);
        entry.reject(new HubError({ code: "connection_lost" }));
      } else {
        entry.sent = false; // resent after the next hello
      }
    }
    if (why === "stop") return;
    if (why === "token" || why === "epoch") {
      this.setStatus("reconnecting");
      this.connect();
      return;
    }
    const refusal = this.refusal?.code;
    if (code === 4403) {
      this.stop(refusal === "banned" ? "banned" : "wrong_show");
      return;
    }
    if (code === 4404) {
      this.stop("show_missing");
      return;
    }
    if (CLIENT_BUG_CLOSES.has(code)) {
      this.stop("protocol_mismatch");
      return;
    }
    if (code === 4401) {
      this.renew(refusal || "token_invalid");
      return;
    }
    let wait = Math.random() * Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 16);
    if (code === 1012) wait = Math.random() * 1000; // a node stopping: others take us now
    if (code === 1008) wait = Math.max(wait, FLOOD_BACKOFF_MS);
    if (code === 4429) {
      let after = 1000;
      try {
        after = JSON.parse(reason).retry_after_ms ?? after;
      } catch {
        // a reason that is not JSON: wait a second, plus jitter
      }
      wait = Math.max(wait, after + Math.random() * 1000);
    }
    this.setStatus("reconnecting");
    this.retryTimer = setTimeout(() => this.connect(), wait);
  }

  async renew(code) {
    const hadToken = Boolean(this.token);
    if (!this.renewToken || !hadToken) {
      this.stop(code);
      return;
    }
    this.setStatus("reconnecting");
    try {
      this.token = (await this.renewToken(code)) || null;
    } catch {
      this.stop(code);
      return;
    }
    if (this.state.status !== "stopped") this.connect();
  }

  stop(code) {
    this.state.stopped = code ? { code } : null;
    this.setStatus("stopped");
    clearTimeout(this.retryTimer);
    clearInterval(this.watchTimer);
    window.removeEventListener("online", this.onOnline);
    for (const entry of this.pending.values()) {
      entry.reject(new HubError({ code: code || "connection_lost" }));
    }
    this.pending.clear();
    if (this.ws) {
      this.closing = "stop";
      this.ws.close(1000);
      this.ws = null;
    }
  }

  setStatus(status) {
    if (this.state.status === status) return;
    this.state.status = status;
    this.notify({ kind: "status" });
  }

  notify(change) {
    for (const fn of this.subscribers) {
      try {
        fn(change, this.state);
      } catch (error) {
        console.error("livecart: a part failed to render", error);
      }
    }
  }
}

/** One show event applied to the state (docs/protocol.md, "Event types"). Unknown types
 * change nothing; subscribers still hear of them. */
export function applyEvent(s, event, stockSeen = new Map()) {
  const d = event.data ?? {};
  const show = s.show ?? (s.show = {});
  const withStock = (product) => {
    // A product card carries the stock of its moment; a newer stock figure wins.
    const seen = stockSeen.get(product.sku);
    const current = s.lineup.get(product.sku);
    const next = { ...current, ...product };
    if (current && seen && compareIds(event.id, seen) < 0) next.stock = current.stock;
    else stockSeen.set(product.sku, event.id);
    s.lineup.set(product.sku, next);
  };
  const type = event.type;
  switch (type) {
    case "show_started":
      show.state = "live";
      show.started_at_ms = d.started_at_ms;
      break;
    case "show_ended":
      show.state = "ended";
      show.ended_at_ms = d.ended_at_ms;
      break;
    case "lineup_added":
      if (d.product) withStock(d.product);
      break;
    case "stock": {
      const product = s.lineup.get(d.sku);
      if (product) product.stock = d.stock;
      stockSeen.set(d.sku, event.id);
      break;
    }
    case "sold":
      s.sold.set(d.sku, d.sold);
      break;
    case "pinned":
      show.pinned = d.sku;
      // A product sold by variants is pinned whole: its card stands for the product,
      // and the live stock it carries is each variant's, kept on the variants' own cards.
      if (d.product?.variants) {
        for (const v of d.product.variants) if (s.lineup.has(v.sku)) withStock({ sku: v.sku, stock: v.stock });
      } else if (d.product) withStock(d.product);
      break;
    case "unpinned":
      if (!d.sku || show.pinned === d.sku) show.pinned = null;
      break;
    case "sales_paused":
      show.sales = "paused";
      show.sales_reason = d.reason || null;
      break;
    case "sales_resumed":
      show.sales = "open";
      show.sales_reason = null;
      break;
    case "flash_started":
      show.flash_sale = { ...d, remaining: d.quantity };
      break;
    case "flash_ended":
      if (!show.flash_sale || show.flash_sale.id === d.id) show.flash_sale = null;
      break;
    case "chat":
      s.chat.push({ id: event.id, user: d.user, text: d.text, staff: Boolean(d.staff), sent_at_ms: idMs(event.id) });
      if (s.chat.length > MAX_CHAT) s.chat.splice(0, s.chat.length - MAX_CHAT);
      break;
    case "message_deleted":
      s.chat = s.chat.filter((message) => message.id !== d.message_id);
      break;
    case "slow_mode":
      s.slowModeS = d.seconds;
      break;
    case "viewers":
      s.viewers = d.count;
      show.viewers = d.count;
      break;
    case "muted":
      s.moderation.muted.set(d.user, d.until_ms);
      break;
    case "unmuted":
      s.moderation.muted.delete(d.user);
      break;
    case "banned":
      s.moderation.banned.add(d.user);
      break;
    case "unbanned":
      s.moderation.banned.delete(d.user);
      break;
    case "blocked_keywords":
      s.moderation.blockedKeywords = d.words ?? [];
      break;
    case "stream_started":
      show.stream = d;
      break;
    case "stream_ended":
      show.stream = null;
      break;
    default:
      if (type.startsWith("auction_") || type.startsWith("giveaway_") || type === "bid") applyAuctionEvent(show, type, d);
      break;
  }
}
