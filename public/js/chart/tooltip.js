// The hover read-out: for each series, the full-resolution point nearest the pointer's x.

import { h, replace } from "../dom.js";
import { lowerBound } from "../sorted.js";
import { number } from "../format.js";

const MAX_ROWS = 12;
// A series that ended (or starts) further than this from the pointer has nothing to say about that spot.
const BEYOND_ENDS_PIXELS = 12;

/** Each series' point nearest to x-value `x` within the frame's window: [{series, index}]. */
export function nearestPoints(frame, x) {
  const { xScale } = frame;
  const found = [];
  for (const one of frame.drawn) {
    const { xs } = one;
    if (xs.length === 0) continue;
    const pointer = xScale.map(x);
    const [first, last] = [xScale.map(xs[0]), xScale.map(xs[xs.length - 1])];
    if (pointer < first - BEYOND_ENDS_PIXELS || pointer > last + BEYOND_ENDS_PIXELS) continue;
    let index = lowerBound(xs, x);
    if (index > 0 && (index === xs.length || x - xs[index - 1] < xs[index] - x)) index -= 1;
    found.push({ series: one, index });
  }
  return found;
}

/** Fills the tooltip element with one row per point: run, step, value (and raw value when smoothing). */
export function fillTooltip(element, points, xAxis) {
  const smoothing = points.some(({ series }) => series.smoothed);
  const rows = points.slice(0, MAX_ROWS).map(({ series, index }) =>
    h("tr", {},
      h("td", {}, h("span", { class: "swatch", style: `background:${series.color}` })),
      h("td", { class: "name" }, series.label),
      h("td", {}, series.steps[index]),
      xAxis.key === "step" ? null : h("td", {}, xAxis.format(series.xs[index], 0)),
      h("td", { class: "num" }, number(series.smoothed ? series.smoothed[index] : series.ys[index])),
      smoothing ? h("td", { class: "num raw" }, number(series.ys[index])) : null));
  replace(element, h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}), h("th", {}, "run"), h("th", {}, "step"),
      xAxis.key === "step" ? null : h("th", {}, xAxis.label),
      h("th", {}, smoothing ? "smoothed" : "value"), smoothing ? h("th", {}, "raw") : null)),
    h("tbody", {}, rows),
    points.length > MAX_ROWS ? h("caption", {}, `and ${points.length - MAX_ROWS} more`) : null));
}
