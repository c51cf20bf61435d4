// What the studio's forms share: whole numbers as typed, seconds read back in words, and
// a field's error said under it (the input marked invalid for assistive technology).

/** "12" -> 12; null for anything that is not a whole number of at most nine digits. */
export function whole(text) {
  return /^\d{1,9}$/.test(text.trim()) ? Number(text.trim()) : null;
}

/** "90 s" -> "1 min 30 s": the seconds a person typed, read back. */
export function spoken(seconds) {
  if (seconds === null || seconds === 0) return seconds === 0 ? "at once" : "";
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return [h && `${h} h`, m && `${m} min`, s && `${s} s`].filter(Boolean).join(" ");
}

/** Say `words` under `input` (its error element is `#{input.id}-error`); null clears it. */
export function fieldError(input, words) {
  const error = document.getElementById(`${input.id}-error`);
  if (error) error.textContent = words ?? "";
  if (words) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
}
