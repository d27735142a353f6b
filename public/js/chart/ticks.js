// Where axis ticks go: round numbers (1, 2, 5 × 10ⁿ), powers of ten on a log axis, and whole clock units of time.

/** About `count` round values covering [low, high]. */
export function numberTicks(low, high, count) {
  if (!(high > low)) return [low];
  const step = roundStep((high - low) / Math.max(1, count));
  const ticks = [];
  for (let value = Math.ceil(low / step) * step; value <= high + step * 1e-9; value += step) {
    ticks.push(Math.abs(value) < step * 1e-9 ? 0 : Number(value.toPrecision(12)));
  }
  return ticks;
}

/** The smallest 1, 2 or 5 × 10ⁿ that is ≥ `raw`. */
export function roundStep(raw) {
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
}

/** Ticks for a log axis over [low, high] (both > 0): decades, with 2 and 5 in between when there is room. */
export function logTicks(low, high, count) {
  const first = Math.floor(Math.log10(low));
  const last = Math.ceil(Math.log10(high));
  const decades = last - first;
  // Spanning less than a decade or two, powers of ten alone would leave the axis bare.
  if (decades <= 1) return numberTicks(low, high, count);
  const multiples = decades * 3 <= count ? [1, 2, 5] : [1];
  const stride = Math.max(1, Math.ceil(decades / count));
  const ticks = [];
  for (let exponent = first; exponent <= last; exponent += stride) {
    for (const multiple of multiples) {
      const value = multiple * 10 ** exponent;
      if (value >= low && value <= high) ticks.push(value);
    }
  }
  return ticks;
}

const SECOND_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

/**
 * About `count` ticks over [low, high] seconds at whole clock units (10 s, 5 min, 1 h…). `offset` shifts the grid:
 * a wall-clock axis passes the time zone's offset so ticks fall on local minutes and hours.
 */
export function timeTicks(low, high, count, offset = 0) {
  if (!(high > low)) return [low];
  const raw = (high - low) / Math.max(1, count);
  if (raw < 1) return numberTicks(low, high, count);
  const step = SECOND_STEPS.find((candidate) => candidate >= raw) ?? Math.ceil(raw / 86400) * 86400;
  const ticks = [];
  for (let value = Math.ceil((low + offset) / step) * step - offset; value <= high; value += step) ticks.push(value);
  return ticks;
}
