// One job's scalars in memory, at full resolution. A finished job's history is fetched once; a queued or running
// job is followed on its event stream instead, whose replay on connecting is its history, so nothing is fetched
// twice and new points arrive live.

import { explain, get } from "../api.js";
import { FINAL_STATES, followJob } from "./job-events.js";
import { Series } from "./series.js";

export class Run {
  /** `onChange(run)` is called whenever points, the job's state or the run's status change. */
  constructor(job, onChange) {
    this.job = job;
    this.onChange = onChange;
    this.tags = new Map();
    this.status = "loading";
    this.stopFollowing = null;
    this.loading = null;
  }

  /** The series of `tag` (empty when the run has none yet). */
  series(tag) {
    let series = this.tags.get(tag);
    if (!series) {
      series = new Series(tag);
      this.tags.set(tag, series);
    }
    return series;
  }

  /** Loads the history or starts following; safe to call again (a followed run that was paused resumes). */
  start() {
    if (this.stopFollowing || this.status === "complete") return;
    if (FINAL_STATES.has(this.job.state)) this.loading ??= this.load();
    else this.follow();
  }

  async load() {
    try {
      for (const point of await get(`/v1/jobs/${this.job.id}/metrics`)) this.add(point);
      this.setStatus("complete");
    } catch (error) {
      this.loading = null;
      this.setStatus(`error: ${explain(error)}`);
    }
  }

  /** Stops following a live job. Started again, the stream's replay brings what was missed meanwhile. */
  pause() {
    this.stopFollowing?.();
    this.stopFollowing = null;
  }

  follow() {
    this.setStatus("live");
    this.stopFollowing = followJob(this.job.id, {
      metric: (point) => {
        this.add(point);
        this.onChange(this);
      },
      state: ({ state, progress }) => {
        this.job = { ...this.job, state, progress };
        if (FINAL_STATES.has(state)) {
          this.stopFollowing = null;
          this.setStatus("complete");
        } else this.onChange(this);
      },
      trouble: (message) => this.setStatus(message ?? "live"),
    });
  }

  add({ tag, step, wall_time: wall, value }) {
    // JSON has no NaN: a diverged loss comes as null.
    this.series(tag).upsert(step, wall, value ?? NaN);
  }

  setStatus(status) {
    this.status = status;
    this.onChange(this);
  }
}
