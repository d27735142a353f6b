// TensorBoard's scalar smoothing: an exponential moving average, debiased so the start of a curve is not pulled
// toward zero. It runs on the full-resolution values (never on the thinned points drawn), and is extended
// point by point as a live run grows instead of recomputed.

const cache = new WeakMap();

/** The smoothed values of `series` for `weight` in [0, 1), one per point. */
export function smoothed(series, weight) {
  let entry = cache.get(series);
  if (!entry || entry.weight !== weight || entry.rewrites !== series.rewrites || entry.values.length > series.length) {
    entry = { weight, rewrites: series.rewrites, values: [], last: 0, power: 1 };
    cache.set(series, entry);
  }
  const { values } = entry;
  for (let i = values.length; i < series.length; i++) {
    const value = series.values[i];
    if (!Number.isFinite(value)) {
      // A NaN or infinite loss is shown as it is and does not poison the average after it.
      values.push(value);
      continue;
    }
    entry.last = entry.last * weight + (1 - weight) * value;
    // weight to the power of the number of values averaged so far: the bias toward the initial 0.
    entry.power *= weight;
    values.push(entry.last / (1 - entry.power));
  }
  return values;
}
