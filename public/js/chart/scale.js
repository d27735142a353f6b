// Maps data values to pixels along one axis, linearly or logarithmically.

export class Scale {
  /** Maps [low, high] onto [start, end] pixels; `log` maps log10 of the values (which must then be > 0). */
  constructor(low, high, start, end, log = false) {
    this.low = low;
    this.high = high;
    this.log = log;
    this.start = start;
    this.end = end;
    this.from = log ? Math.log10(low) : low;
    const span = (log ? Math.log10(high) : high) - this.from;
    this.factor = span > 0 ? (end - start) / span : 0;
  }

  /** The pixel of `value`; NaN for a value a log axis cannot show (≤ 0). */
  map(value) {
    if (this.log) return value > 0 ? this.start + (Math.log10(value) - this.from) * this.factor : NaN;
    return this.start + (value - this.from) * this.factor;
  }

  /** The value at pixel `pixel`. */
  invert(pixel) {
    const value = this.from + (pixel - this.start) / this.factor;
    return this.log ? 10 ** value : value;
  }
}
