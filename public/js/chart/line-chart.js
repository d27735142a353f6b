// A line chart on canvas: full-resolution series in, thinned per pixel only for drawing. Hover shows the nearest
// points; dragging across the plot zooms into that x-range (re-thinned from the full data), a double click or
// the reset button zooms back out. The element carries data-points: the full-resolution points it holds.

import { h } from "../dom.js";
import { computeFrame } from "./frame.js";
import { paint } from "./paint.js";
import { fillTooltip, nearestPoints } from "./tooltip.js";

const HEIGHT = 240;
const MIN_DRAG_PIXELS = 5;
const charts = new Set();

// Colors come from CSS custom properties, so a change of color scheme needs a redraw.
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => charts.forEach((chart) => chart.draw()));

export class LineChart {
  /** `title`: shown above the chart; `name`: a stable identifier (data-chart) for tests and styling. */
  constructor(title, name) {
    this.series = [];
    this.options = null;
    this.zoom = null;
    this.frame = null;
    this.drag = null;
    this.base = h("canvas", { class: "base" });
    this.overlay = h("canvas", { class: "overlay" });
    this.tooltip = h("div", { class: "tooltip", hidden: true });
    this.resetButton = h("button", { type: "button", class: "small", hidden: true, onclick: () => this.setZoom(null) },
      "reset zoom");
    this.legend = h("ul", { class: "legend" });
    this.plot = h("div", { class: "plot" }, this.base, this.overlay, this.tooltip);
    this.element = h("figure", { class: "chart", "data-chart": name },
      h("figcaption", {}, h("span", {}, title), this.resetButton), this.plot, this.legend);
    this.listen();
    new ResizeObserver(() => this.draw()).observe(this.plot);
    charts.add(this);
  }

  /**
   * `series`: [{key, label, color, dashed, xs, ys, steps, smoothed, version}]; `options`: {xAxis: {key, label, ticks,
   * format}, logY, clipOutliers, yFormat}. A different x-axis resets the zoom.
   */
  update(series, options) {
    if (this.options && this.options.xAxis.key !== options.xAxis.key) this.showZoom(null);
    this.series = series;
    this.options = options;
    this.element.dataset.points = String(series.reduce((sum, one) => sum + one.xs.length, 0));
    this.updateLegend();
    this.draw();
  }

  /** Zooms into the x-range [low, high], or back out with null. */
  setZoom(range) {
    this.showZoom(range);
    this.draw();
  }

  showZoom(range) {
    this.zoom = range;
    this.resetButton.hidden = !range;
    this.element.toggleAttribute("data-zoomed", Boolean(range));
  }

  /** One entry per series; while the series stay the same (a live redraw), only their point counts change. */
  updateLegend() {
    const items = [...this.legend.children];
    const same = items.length === this.series.length
      && this.series.every((one, i) => items[i].dataset.series === one.key && items[i].dataset.color === one.color);
    if (same) {
      this.series.forEach((one, i) => { items[i].dataset.points = one.xs.length; });
      return;
    }
    this.legend.replaceChildren(...this.series.map((one) =>
      h("li", { "data-series": one.key, "data-points": one.xs.length, "data-color": one.color },
        h("span", { class: one.dashed ? "swatch dashed" : "swatch", style: `--color:${one.color}` }), one.label)));
  }

  draw() {
    const width = this.plot.clientWidth;
    if (!this.options || width === 0) return;
    const ratio = devicePixelRatio || 1;
    // Resizing a canvas reallocates it: only when the size changed, not on every live redraw.
    if (this.base.width !== Math.round(width * ratio)) {
      for (const canvas of [this.base, this.overlay]) {
        canvas.width = Math.round(width * ratio);
        canvas.height = Math.round(HEIGHT * ratio);
        canvas.style.height = `${HEIGHT}px`;
      }
    }
    const context = this.base.getContext("2d");
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    const theme = this.theme();
    context.font = theme.font;
    this.frame = computeFrame(this.series, this.options, this.zoom, width, HEIGHT,
      (text) => context.measureText(text).width);
    paint(context, this.frame, theme, width, HEIGHT);
  }

  theme() {
    const style = getComputedStyle(this.element);
    const read = (name) => style.getPropertyValue(name).trim();
    return { text: read("--muted"), grid: read("--grid"), axis: read("--border"), font: `11px ${style.fontFamily}` };
  }

  listen() {
    const overlay = this.overlay;
    overlay.addEventListener("pointerdown", (event) => {
      if (event.button !== 0 || !this.insidePlot(event)) return;
      overlay.setPointerCapture(event.pointerId);
      this.drag = { from: this.pointer(event).x, to: this.pointer(event).x };
    });
    overlay.addEventListener("pointermove", (event) => {
      if (this.drag) this.drag.to = this.clampX(this.pointer(event).x);
      this.hover(event);
    });
    overlay.addEventListener("pointerup", () => {
      const drag = this.drag;
      this.drag = null;
      if (drag && Math.abs(drag.to - drag.from) >= MIN_DRAG_PIXELS) {
        const [a, b] = [drag.from, drag.to].map((x) => this.frame.xScale.invert(x));
        this.setZoom([Math.min(a, b), Math.max(a, b)]);
      }
      this.clearOverlay();
    });
    overlay.addEventListener("pointerleave", () => {
      if (this.drag) return;
      this.tooltip.hidden = true;
      this.clearOverlay();
    });
    overlay.addEventListener("pointercancel", () => {
      this.drag = null;
      this.clearOverlay();
    });
    overlay.addEventListener("dblclick", () => this.setZoom(null));
  }

  pointer(event) {
    const box = this.overlay.getBoundingClientRect();
    return { x: event.clientX - box.left, y: event.clientY - box.top };
  }

  insidePlot(event) {
    const { x, y } = this.pointer(event);
    const plot = this.frame?.plot;
    return plot && x >= plot.left && x <= plot.right && y >= plot.top && y <= plot.bottom;
  }

  clampX(x) {
    return Math.min(this.frame.plot.right, Math.max(this.frame.plot.left, x));
  }

  clearOverlay() {
    const context = this.overlay.getContext("2d");
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.clearRect(0, 0, this.overlay.width, this.overlay.height);
  }

  /** Draws the drag selection or the hover markers, and places the tooltip. */
  hover(event) {
    this.clearOverlay();
    if (!this.frame || this.frame.empty || (!this.drag && !this.insidePlot(event))) {
      this.tooltip.hidden = true;
      return;
    }
    const context = this.overlay.getContext("2d");
    context.setTransform(devicePixelRatio || 1, 0, 0, devicePixelRatio || 1, 0, 0);
    const { plot, xScale, yScale } = this.frame;
    if (this.drag) {
      context.fillStyle = "rgba(127, 127, 127, 0.2)";
      context.fillRect(Math.min(this.drag.from, this.drag.to), plot.top, Math.abs(this.drag.to - this.drag.from),
        plot.bottom - plot.top);
      this.tooltip.hidden = true;
      return;
    }
    const { x, y } = this.pointer(event);
    const points = nearestPoints(this.frame, xScale.invert(x));
    if (points.length === 0) {
      this.tooltip.hidden = true;
      return;
    }
    for (const { series, index } of points) {
      const value = (series.smoothed ?? series.ys)[index];
      context.fillStyle = series.color;
      context.beginPath();
      context.arc(xScale.map(series.xs[index]), yScale.map(value), 3.5, 0, 2 * Math.PI);
      context.fill();
    }
    fillTooltip(this.tooltip, points, this.options.xAxis);
    this.tooltip.hidden = false;
    // Keep the read-out inside the chart: to the left of the pointer on the right half.
    const flip = x > this.plot.clientWidth / 2;
    this.tooltip.style.left = flip ? "" : `${x + 14}px`;
    this.tooltip.style.right = flip ? `${this.plot.clientWidth - x + 14}px` : "";
    this.tooltip.style.top = `${Math.min(y, HEIGHT - 40)}px`;
  }
}
