// Amounts and times as the merchant types them. The API speaks integers in the
// currency's minor units (cents); the console takes major units ("24.00" EUR) and
// converts exactly, refusing more decimals than the currency has. Showing money is
// the shared format.js's `money`.

/** Decimal places of `currency` (2 for EUR, 0 for JPY); 2 for a code Intl does not know. */
export function fractionDigits(currency) {
  try {
    return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions()
      .maximumFractionDigits;
  } catch {
    return 2;
  }
}

/** The major-unit text of `minor` for an input: 2400, "EUR" -> "24.00". */
export function majorText(minor, currency) {
  const digits = fractionDigits(currency);
  return (Number(minor) / 10 ** digits).toFixed(digits);
}

/**
 * "24", "24.5", "24.50" in `currency` -> minor units (2400, 2450, 2450), by string
 * arithmetic (no float rounding). Returns an error sentence instead of a number when
 * the text is not a plain amount.
 */
export function parseMajor(text, currency) {
  const digits = fractionDigits(currency);
  const match = /^\s*(\d{1,13})(?:[.,](\d+))?\s*$/.exec(text);
  if (!match) return { error: "Write the amount in digits, for example 24.00" };
  const fraction = match[2] ?? "";
  if (fraction.length > digits) {
    return {
      error: digits
        ? `${currency} has at most ${digits} decimal places`
        : `${currency} has no decimal places`,
    };
  }
  return { value: Number(match[1]) * 10 ** digits + Number(fraction.padEnd(digits, "0") || 0) };
}

/** Basis points from a percentage text ("8", "8.5" -> 800, 850); an error sentence otherwise. */
export function parsePercent(text) {
  const match = /^\s*(\d{1,3})(?:[.,](\d{1,2}))?\s*$/.exec(text);
  if (!match) return { error: "Write a percentage such as 8 or 8.5" };
  return { value: Number(match[1]) * 100 + Number((match[2] ?? "").padEnd(2, "0")) };
}

/** 850 -> "8.5 %". */
export function percent(bps) {
  return `${(Number(bps) / 100).toLocaleString(undefined, { maximumFractionDigits: 2 })} %`;
}

/** Milliseconds since the epoch -> a short local date and time; "—" for none. */
export function when(ms) {
  if (ms === null || ms === undefined) return "—";
  return new Date(Number(ms)).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** A `datetime-local` input's value -> ms since the epoch (local time); null when empty. */
export function localInputMs(value) {
  if (!value) return null;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}
