// What several sections choose from: every brand, every creator, a brand's products,
// the shows. Read whole (page after page) for the pickers, and re-read when a section
// announces a change with a `mc:changed` event naming what changed.

import { call } from "./key.js";
import { h } from "../format.js";

const MAX_PAGES = 50; // 10 000 items: more than a picker can usefully show

/** Every item of a listing, following `next` (at most MAX_PAGES pages of 200). */
export async function everything(path, query = {}) {
  const items = [];
  let after = null;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const answer = await call(path, { query: { ...query, limit: 200, after } });
    items.push(...answer.items);
    after = answer.next;
    if (!after) break;
  }
  return items;
}

export const brands = () => everything("/api/brands");
export const creators = () => everything("/api/creators");
export const products = (brand) => everything("/api/products", { brand });
export const shows = () => everything("/api/shows");

/** Fill `select` with `items`, keeping its choice when it is still there. */
export function fillSelect(select, items, { value, label, placeholder } = {}) {
  const kept = select.value;
  const options = items.map((item) => h("option", { value: value(item) }, label(item)));
  if (placeholder !== undefined) options.unshift(h("option", { value: "" }, placeholder));
  select.replaceChildren(...options);
  if ([...select.options].some((o) => o.value === kept)) select.value = kept;
}

/** Tell the other sections that `what` ("brands", "creators", "products", "shows") changed. */
export function announce(what) {
  document.dispatchEvent(new CustomEvent("mc:changed", { detail: what }));
}

/** Run `then` whenever `what` changes. */
export function whenChanged(what, then) {
  document.addEventListener("mc:changed", (event) => {
    if (event.detail === what) then();
  });
}
