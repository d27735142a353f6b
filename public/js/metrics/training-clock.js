// Relative time that counts only the time a run was training: when its process died and it later resumed from a
// checkpoint, the wall-clock gap while it was down is left out.
//
// A gap is recognized from the run's own pace. Train points come every few steps at a steady rate; an interval
// between consecutive points far longer than that pace would take is downtime, and it is counted as if it had
// taken the usual time. Evaluation at the end of an epoch also pauses training, but it ends with a test point,
// so intervals that end at a test point are always counted in full.

import { upperBound } from "../sorted.js";

const GAP_FACTOR = 10;
const MIN_GAP_SECONDS = 5;

/**
 * A function from wall time to seconds of training since the run's first point, built from the run's
 * `train` and `test` reference series (train/loss and test/loss). It is piecewise linear: slope 1 except across
 * downtime, which is squeezed to the usual duration.
 */
export function trainingClock(train, test) {
  const events = [];
  for (let i = 0; i < train.length; i++) events.push({ wall: train.walls[i], step: train.steps[i], train: true });
  for (let i = 0; i < (test?.length ?? 0); i++) events.push({ wall: test.walls[i], train: false });
  events.sort((a, b) => a.wall - b.wall);
  if (events.length === 0) return (wall) => wall;

  const pace = secondsPerStep(train);
  const walls = [events[0].wall];
  const times = [0];
  let previous = events[0];
  let lastTrainStep = previous.train ? previous.step : null;
  for (const event of events.slice(1)) {
    if (event.train) {
      if (lastTrainStep !== null) {
        const usual = pace * Math.max(0, event.step - lastTrainStep);
        const elapsed = event.wall - previous.wall;
        if (elapsed > Math.max(GAP_FACTOR * usual, MIN_GAP_SECONDS)) {
          const start = times[times.length - 1] + (previous.wall - walls[walls.length - 1]);
          walls.push(previous.wall, event.wall);
          times.push(start, start + Math.min(usual, elapsed));
        }
      }
      lastTrainStep = event.step;
    }
    previous = event;
  }
  return (wall) => {
    const k = upperBound(walls, wall) - 1;
    if (k < 0) return wall - walls[0];
    if (k === walls.length - 1) return times[k] + (wall - walls[k]);
    return times[k] + ((wall - walls[k]) * (times[k + 1] - times[k])) / (walls[k + 1] - walls[k]);
  };
}

/** The median seconds per step between consecutive train points: the run's usual pace. */
function secondsPerStep(train) {
  const rates = [];
  for (let i = 1; i < train.length; i++) {
    const steps = train.steps[i] - train.steps[i - 1];
    const seconds = train.walls[i] - train.walls[i - 1];
    if (steps > 0 && seconds >= 0) rates.push(seconds / steps);
  }
  if (rates.length === 0) return 0;
  rates.sort((a, b) => a - b);
  return rates[rates.length >> 1];
}
