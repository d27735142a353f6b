// The three x-axes of the scalars view: step, relative time (training time only) and wall time. Each gives the
// chart its ticks and labels, and maps a run's series to x values (cached: a finished run's never change).

import { clock, duration } from "../format.js";
import { numberTicks, timeTicks } from "../chart/ticks.js";
import { trainingClock } from "./training-clock.js";

const timezoneOffset = -new Date().getTimezoneOffset() * 60;

export const X_AXES = {
  step: {
    key: "step",
    label: "step",
    ticks: numberTicks,
    format: (value) => String(Math.round(value)),
    values: (run, series) => series.steps,
  },
  relative: {
    key: "relative",
    label: "time",
    ticks: (low, high, count) => timeTicks(low, high, count),
    format: (value) => duration(value),
    values: relativeTimes,
  },
  wall: {
    key: "wall",
    label: "wall time",
    ticks: (low, high, count) => timeTicks(low, high, count, timezoneOffset),
    format: (value, span) => clock(value, span > 86400 || span === 0),
    values: (run, series) => series.walls,
  },
};

const clocks = new WeakMap();
const relatives = new WeakMap();

function relativeTimes(run, series) {
  const clock = runClock(run);
  const cached = relatives.get(series);
  if (cached?.clock === clock && cached.length === series.length) return cached.values;
  const values = series.walls.map(clock);
  relatives.set(series, { clock, length: series.length, values });
  return values;
}

/** The run's training clock, rebuilt only when its reference series changed. */
function runClock(run) {
  const train = run.series("train/loss");
  const test = run.series("test/loss");
  const version = `${train.length}:${train.rewrites}:${test.length}:${test.rewrites}`;
  const cached = clocks.get(run);
  if (cached?.version === version) return cached.clock;
  const clock = trainingClock(train, test);
  clocks.set(run, { version, clock });
  return clock;
}
