// How numbers, times and durations read on the page.

/** A value with about `digits` significant digits; large and tiny magnitudes in exponent form. */
export function number(value, digits = 4) {
  if (value === null || value === undefined) return "—";
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude >= 1e6 || magnitude < 1e-3)) return value.toExponential(digits - 1);
  return String(Number(value.toPrecision(digits)));
}

export function percent(fraction, digits = 1) {
  return fraction === null || fraction === undefined ? "—" : `${(fraction * 100).toFixed(digits)}%`;
}

/** `1h 02m`, `3m 05s`, `4.2s`. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  const s = Math.round(seconds);
  const pad = (n) => String(n).padStart(2, "0");
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${pad(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86400)}d ${pad(Math.floor(s / 3600) % 24)}h`;
}

/** Local date and time of `seconds` since 1970. */
export function dateTime(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleString() : "—";
}

/** Local time of day; with the date when `withDate`. */
export function clock(seconds, withDate = false) {
  const date = new Date(seconds * 1000);
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  return withDate ? `${date.toLocaleDateString([], { month: "short", day: "numeric" })} ${time}` : time;
}
