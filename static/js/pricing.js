// What a product costs right now: its show price, or the flash-sale price while the sale
// runs by Redis' clock (the clock the buy script decides by). The page sends this price
// with the buy, so a buyer is never charged a price they did not see.

/** "countdown", "running", "ended", or null when there is no flash sale. */
export function flashPhase(flash, serverNow) {
  if (!flash) return null;
  if (serverNow >= flash.ends_ms) return "ended";
  if (serverNow >= flash.starts_ms) return "running";
  return "countdown";
}

/** {price, was, phase}: `was` is the show price while a flash price replaces it. */
export function offer(product, flash, serverNow) {
  const phase = flash && flash.sku === product.sku ? flashPhase(flash, serverNow) : null;
  if (phase === "running") return { price: flash.price, was: product.price, phase };
  return { price: product.price, was: null, phase };
}
