// One scalar tag of one run at full resolution: columns of steps, wall times and values, sorted by step.

import { lowerBound } from "../sorted.js";

export class Series {
  constructor(tag) {
    this.tag = tag;
    this.steps = [];
    this.walls = [];
    this.values = [];
    // Bumped when a point other than a new last one changes, so caches built on a prefix know to start over.
    this.rewrites = 0;
  }

  get length() {
    return this.steps.length;
  }

  /**
   * Adds a point, or replaces the one at the same step (a job resumed after a crash logs the steps since its
   * checkpoint again; the newer point wins). Points almost always arrive in step order, so that case is O(1).
   */
  upsert(step, wall, value) {
    const n = this.steps.length;
    if (n === 0 || step > this.steps[n - 1]) {
      this.steps.push(step);
      this.walls.push(wall);
      this.values.push(value);
      return;
    }
    const index = lowerBound(this.steps, step);
    if (this.steps[index] === step) {
      this.walls[index] = wall;
      this.values[index] = value;
    } else {
      this.steps.splice(index, 0, step);
      this.walls.splice(index, 0, wall);
      this.values.splice(index, 0, value);
    }
    this.rewrites += 1;
  }
}
