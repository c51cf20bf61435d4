// Who the page acts as. Two sources, in this order:
// - a token in the URL fragment (`#token=...`): an embedding site's own user, or a staff
//   link printed by `livecart demo`. Fragments never reach the server or its logs. It
//   is kept for this tab only (sessionStorage) and removed from the address bar, so a
//   copied link never carries it.
// - a buyer's token made by signing up on this device (localStorage).

const BUYER_TOKEN = "livecart.buyer.token";
const TAB_TOKEN = "livecart.tab.token:";

function storage(kind) {
  try {
    return kind === "local" ? window.localStorage : window.sessionStorage;
  } catch {
    return null; // storage disabled: the page still works, it just forgets on reload
  }
}

/** The fragment's token for this page, moved out of the address bar into the tab's storage. */
export function takeFragmentToken() {
  const key = TAB_TOKEN + location.pathname;
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (token) {
    storage("session")?.setItem(key, token);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(history.state, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
    return token;
  }
  return storage("session")?.getItem(key) || null;
}

export function buyerToken() {
  return storage("local")?.getItem(BUYER_TOKEN) || null;
}

export function saveBuyerToken(token) {
  storage("local")?.setItem(BUYER_TOKEN, token);
}

export function forgetBuyerToken() {
  storage("local")?.removeItem(BUYER_TOKEN);
}

/** The claims of a token, unverified (the server verifies); null when unreadable. */
export function tokenClaims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return null;
  }
}
