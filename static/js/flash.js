// The flash-sale banner: the product and its flash price, counted down to the start and
// then to the end by Redis' clock (hello's server_time_ms), never by this device's
// clock. It shows the sale as over at its end time even before the server's sweep sends
// `flash_ended`; the buy script decides by the same clock.

import { countdown, money } from "./format.js";
import { flashPhase } from "./pricing.js";
import { lineTitle } from "./product-card.js";

const TICK_MS = 200;
const ENDED_SHOWN_MS = 4000;

export function mountFlash(banner, { hub }) {
  const title = banner.querySelector(".flash__title");
  const clock = banner.querySelector(".flash__clock");
  const announce = banner.querySelector(".flash__phase");
  let timer = null;
  let shownPhase = null;
  let endedId = null;
  let endedAt = 0;

  function render() {
    const flash = hub.state.show?.flash_sale ?? null;
    const now = hub.serverNow();
    const phase = flashPhase(flash, now);
    if (flash && phase === "ended" && endedId !== flash.id) {
      endedId = flash.id;
      endedAt = Date.now();
    }
    const showEnded = endedId && Date.now() - endedAt < ENDED_SHOWN_MS && (!flash || flash.id === endedId);
    if (!flash && !showEnded) {
      banner.hidden = true;
      shownPhase = null;
      stopTimer();
      return;
    }
    banner.hidden = false;
    const product = flash ? hub.product(flash.sku) : null;
    if (flash && phase !== "ended") {
      const price = product ? money(flash.price, product.currency) : "";
      const named = product ? lineTitle(product.title, product.variant, product.options) : flash.sku;
      title.textContent = `Flash sale: ${named} ${price}`;
      clock.textContent =
        phase === "countdown" ? `starts in ${countdown(flash.starts_ms - now)}` : `ends in ${countdown(flash.ends_ms - now)}`;
    } else {
      title.textContent = "Flash sale ended";
      clock.textContent = "";
    }
    const current = flash && phase !== "ended" ? phase : "ended";
    banner.dataset.phase = current;
    if (current !== shownPhase) {
      shownPhase = current;
      announce.textContent = { countdown: "A flash sale is coming", running: "The flash sale is on", ended: "The flash sale has ended" }[current];
    }
    startTimer();
  }

  function startTimer() {
    if (!timer) timer = setInterval(render, TICK_MS);
  }

  function stopTimer() {
    clearInterval(timer);
    timer = null;
  }

  hub.subscribe(render);
  render();
}
