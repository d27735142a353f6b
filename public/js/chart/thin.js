// Thinning for drawing only: the data keep every point; what is drawn keeps, per pixel column, the first, lowest,
// highest and last point (the "M4" rule), which draws the same line as all of them would.

import { lowerBound, upperBound } from "../sorted.js";

// The last result for each y array: while a run streams, the other runs' series are redrawn unchanged.
const cache = new WeakMap();

/**
 * The points of `xs`/`ys` (x sorted ascending) to draw for the x-window [low, high] spread over `columns` pixel
 * columns, as `{xs, ys}`. One point on each side of the window is kept so lines run to its edges. A non-finite y
 * is kept as a NaN that breaks the line. `version` changes whenever the arrays' contents do.
 */
export function thin(xs, ys, low, high, columns, version) {
  const cached = cache.get(ys);
  if (cached && cached.xs === xs && cached.low === low && cached.high === high && cached.columns === columns
      && cached.version === version) {
    return cached.result;
  }
  const result = thinNow(xs, ys, low, high, columns);
  cache.set(ys, { xs, low, high, columns, version, result });
  return result;
}

function thinNow(xs, ys, low, high, columns) {
  const from = Math.max(0, lowerBound(xs, low) - 1);
  const to = Math.min(xs.length, upperBound(xs, high) + 1);
  if (to - from <= columns * 4) return { xs: xs.slice(from, to), ys: ys.slice(from, to) };

  const out = { xs: [], ys: [] };
  const perColumn = columns / (high - low);
  let column = NaN;
  let first = -1, min = -1, max = -1, last = -1;
  const emit = (index) => {
    out.xs.push(xs[index]);
    out.ys.push(ys[index]);
  };
  const flush = () => {
    if (first < 0) return;
    // The four in the order they occur, each once, so the drawn path still moves left to right.
    emit(first);
    const [a, b] = min < max ? [min, max] : [max, min];
    if (a !== first && a !== last) emit(a);
    if (b !== a && b !== first && b !== last) emit(b);
    if (last !== first) emit(last);
    first = -1;
  };
  for (let i = from; i < to; i++) {
    const y = ys[i];
    if (!Number.isFinite(y)) {
      flush();
      out.xs.push(xs[i]);
      out.ys.push(NaN);
      continue;
    }
    const c = Math.floor((xs[i] - low) * perColumn);
    if (c !== column || first < 0) {
      flush();
      column = c;
      first = min = max = last = i;
    } else {
      last = i;
      if (y < ys[min]) min = i;
      if (y > ys[max]) max = i;
    }
  }
  flush();
  return out;
}
