// Icons from one sprite (/static/img/icons.svg), drawn there rather than taken from
// emoji, which not every device has a font for. Always decorative: the control that
// holds one carries the words (aria-label or text).

const SPRITE = "/static/img/icons.svg";
const SVG = "http://www.w3.org/2000/svg";

export function icon(name, className = "lc-icon") {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", className);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const use = document.createElementNS(SVG, "use");
  use.setAttribute("href", `${SPRITE}#${name}`);
  svg.append(use);
  return svg;
}
