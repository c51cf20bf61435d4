// "Maya just bought…": a line for each order confirmed in the show, from its `sold`
// events (the buyer's first name when they gave one). A few at a time, each for a
// moment: a busy show does not pile them up.

const SHOWN_MS = 4000;
const QUEUED = 3;

export function mountTicker(el, { hub }) {
  const queue = [];
  let showing = false;

  function next() {
    const text = queue.shift();
    if (text === undefined) {
      showing = false;
      el.hidden = true;
      return;
    }
    showing = true;
    el.hidden = false;
    el.textContent = text;
    setTimeout(next, SHOWN_MS);
  }

  hub.subscribe((change) => {
    if (change.kind !== "event" || change.event.type !== "sold") return;
    const { sku, quantity, buyer_name: name } = change.event.data;
    const title = hub.product(sku)?.title ?? sku;
    const what = quantity > 1 ? `${quantity} × ${title}` : title;
    queue.push(`${name || "Someone"} just bought ${what}`);
    if (queue.length > QUEUED) queue.splice(0, queue.length - QUEUED);
    if (!showing) next();
  });
}
