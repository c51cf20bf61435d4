// The bag: every product of the show's lineup, each buyable or added to the cart, with
// live stock. Opened from the bag icon; its count is the number of products (a product
// sold by variants counts once, and picks its variant in its own view).

import { lineupProducts, productView } from "./product-card.js";

export function mountLineup(dialog, { hub, actions, button }) {
  const list = dialog.querySelector(".lineup-list");
  const count = button.querySelector(".lc-count");
  const views = new Map();

  function render() {
    const skus = lineupProducts(hub);
    count.textContent = skus.length ? String(skus.length) : "";
    button.setAttribute("aria-label", `Products in this show (${skus.length})`);
    if (!dialog.open) return; // rendered when opened; the count is all the closed bag shows
    const items = skus.map((sku) => {
      let view = views.get(sku);
      if (!view) {
        view = productView(sku, { hub, actions, headingLevel: "h3", className: "lineup-item" });
        views.set(sku, view);
      }
      view.update();
      return view.el;
    });
    const changed = items.length !== list.children.length || items.some((el, i) => list.children[i]?.firstChild !== el);
    if (changed) list.replaceChildren(...items.map((el) => {
      const li = document.createElement("li");
      li.append(el);
      return li;
    }));
  }

  button.addEventListener("click", () => {
    dialog.showModal();
    render();
  });
  hub.subscribe(render);
  render();
}
