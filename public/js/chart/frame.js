// What one chart shows at its current size and zoom: the x-window, the thinned points to draw, the y-range and
// the scales and ticks. Computed on every draw from the full-resolution series.

import { lowerBound, upperBound } from "../sorted.js";
import { Scale } from "./scale.js";
import { thin } from "./thin.js";
import { logTicks, numberTicks, roundStep } from "./ticks.js";

const OUTLIER_QUANTILE = 0.05;
const SAMPLE_SIZE = 8000;
const MARGIN = { top: 8, right: 12, bottom: 26 };

/**
 * `series`: [{xs, ys, smoothed, version}] (smoothed null when not smoothing; version changes with the data);
 * `options`: {xAxis, logY, clipOutliers, yFormat}; `zoom`: [low, high] in x units or null; `measure(text)`: a
 * label's width in pixels.
 */
export function computeFrame(series, options, zoom, width, height, measure) {
  const [xLow, xHigh] = zoom ?? roundedUp(fullXRange(series));
  const drawn = series.map((one) => ({
    ...one,
    raw: thin(one.xs, one.ys, xLow, xHigh, width, one.version),
    smooth: one.smoothed ? thin(one.xs, one.smoothed, xLow, xHigh, width, one.version) : null,
  }));

  const [yLow, yHigh] = yRange(drawn, options, xLow, xHigh);
  const top = MARGIN.top;
  const bottom = height - MARGIN.bottom;
  const yScale = new Scale(yLow, yHigh, bottom, top, options.logY);
  const yTicks = (options.logY ? logTicks : numberTicks)(yLow, yHigh, Math.max(2, Math.floor((bottom - top) / 36)));
  const yLabels = yTicks.map((value) => options.yFormat(value));
  const left = Math.ceil(Math.max(24, ...yLabels.map(measure))) + 10;

  const right = width - MARGIN.right;
  const xScale = new Scale(xLow, xHigh, left, right);
  const xTicks = options.xAxis.ticks(xLow, xHigh, Math.max(2, Math.floor((right - left) / 90)));
  return {
    drawn,
    plot: { left, right, top, bottom },
    xScale,
    yScale,
    xTicks: xTicks.map((value) => ({ value, label: options.xAxis.format(value, xHigh - xLow) })),
    yTicks: yTicks.map((value, i) => ({ value, label: yLabels[i] })),
    empty: series.every((one) => one.xs.length === 0),
  };
}

function fullXRange(series) {
  let low = Infinity;
  let high = -Infinity;
  for (const { xs } of series) {
    if (xs.length === 0) continue;
    low = Math.min(low, xs[0]);
    high = Math.max(high, xs[xs.length - 1]);
  }
  return low <= high ? [low, high] : [0, 1];
}

/**
 * The window for the whole x-range, its end rounded up to a 1, 2 or 5 × 10ⁿ share of about 5% of the span. As a
 * live run grows, the window then stays put for many points, so the runs that did not change are not thinned
 * again. A single point (or none) still gets a window around it.
 */
function roundedUp([low, high]) {
  if (!(high > low)) return [low - 1, high + 1];
  const unit = roundStep((high - low) / 20);
  return [low, Math.ceil(high / unit) * unit];
}

/**
 * The y-range of what is visible in [xLow, xHigh]. Clipping outliers takes the 5th to 95th percentile of the
 * visible values instead of their extremes: the axis is clipped, no series is hidden.
 */
function yRange(drawn, { logY, clipOutliers }, xLow, xHigh) {
  const usable = (y) => Number.isFinite(y) && (!logY || y > 0);
  let low = Infinity;
  let high = -Infinity;
  if (clipOutliers) {
    const sample = visibleSample(drawn, xLow, xHigh, usable).sort();
    if (sample.length) {
      low = quantile(sample, OUTLIER_QUANTILE);
      high = quantile(sample, 1 - OUTLIER_QUANTILE);
    }
  } else {
    for (const one of drawn) {
      for (const points of [one.raw, one.smooth]) {
        if (!points) continue;
        for (let i = 0; i < points.xs.length; i++) {
          const y = points.ys[i];
          if (points.xs[i] < xLow || points.xs[i] > xHigh || !usable(y)) continue;
          if (y < low) low = y;
          if (y > high) high = y;
        }
      }
    }
  }
  if (!(low <= high)) return logY ? [0.1, 1] : [0, 1];
  // A constant series (a fixed learning rate) differs only by rounding: give it a band around its value.
  const flat = high - low <= Math.max(Math.abs(low), Math.abs(high)) * 1e-6;
  if (logY) {
    const [a, b] = [Math.log10(low), Math.log10(high)];
    const pad = flat ? 0.5 : (b - a) * 0.05;
    return [10 ** (a - pad), 10 ** (b + pad)];
  }
  const pad = flat ? Math.abs(high) * 0.1 || 1 : (high - low) * 0.05;
  return [low - pad, high + pad];
}

/**
 * Evenly spaced full-resolution values of each series inside the window, about SAMPLE_SIZE in all, as a typed
 * array (whose sort is numeric and fast).
 */
function visibleSample(drawn, xLow, xHigh, usable) {
  const perSeries = Math.ceil(SAMPLE_SIZE / Math.max(1, drawn.length));
  const sample = [];
  for (const one of drawn) {
    const from = lowerBound(one.xs, xLow);
    const to = upperBound(one.xs, xHigh);
    const stride = Math.max(1, Math.floor((to - from) / perSeries));
    for (const values of [one.ys, one.smoothed]) {
      if (!values) continue;
      for (let i = from; i < to; i += stride) if (usable(values[i])) sample.push(values[i]);
    }
  }
  return Float64Array.from(sample);
}

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))];
}
