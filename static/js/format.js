// Numbers and times as a person reads them. Money comes in minor units with its
// currency (docs/api.md); the currency's own number of decimals decides the divisor.

const moneyFormats = new Map();

function moneyFormat(currency) {
  let format = moneyFormats.get(currency);
  if (!format) {
    try {
      format = new Intl.NumberFormat(undefined, { style: "currency", currency });
    } catch {
      format = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2 });
    }
    moneyFormats.set(currency, format);
  }
  return format;
}

/** 2400, "EUR" -> "€24.00" (in the reader's locale). */
export function money(minor, currency) {
  const format = moneyFormat(currency);
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return format.format(minor / 10 ** digits);
}

/** Digits after the decimal point in `currency` (EUR 2, JPY 0). */
export function currencyDigits(currency) {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  } catch {
    return 2;
  }
}

/** "8", "8.5", "8,50" in `currency` -> minor units; null when it is not such a number. */
export function minorUnits(text, currency) {
  const digits = currencyDigits(currency);
  const pattern = digits ? new RegExp(`^(\\d{1,12})(?:[.,](\\d{1,${digits}}))?$`) : /^(\d{1,12})$/;
  const match = pattern.exec(String(text).trim());
  if (!match) return null;
  const fraction = (match[2] ?? "").padEnd(digits, "0");
  return Number(match[1]) * 10 ** digits + Number(fraction || 0);
}

/** 1350, "EUR" -> "13.50": minor units as a person types them in a field. */
export function amountText(minor, currency) {
  const digits = currencyDigits(currency);
  return digits ? (minor / 10 ** digits).toFixed(digits) : String(minor);
}

/** A duration as "1:05" or "1:02:03"; negative durations read as 0:00. */
export function countdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** A moment on Redis' clock shown on this device's clock: `offsetMs` is server minus local. */
export function timeOfDay(serverMs, offsetMs = 0) {
  return new Date(serverMs - offsetMs).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export function dateTime(serverMs, offsetMs = 0) {
  return new Date(serverMs - offsetMs).toLocaleString([], {
    weekday: "short",
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
  });
}

/** "o_5fecc2ac1d9283d21c4a" -> "5fecc2ac": short enough to read out, long enough to find. */
export function shortOrderId(id) {
  return String(id).replace(/^o_/, "").slice(0, 8);
}

/** An element with attributes and children, for parts that build their own markup. */
export function h(tag, attributes = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "text") el.textContent = value;
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Show an action's outcome in place: kind "ok", "refused" or "pending". */
export function showResult(el, kind, text) {
  el.dataset.kind = kind;
  el.textContent = text;
}
