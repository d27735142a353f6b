// Checkpoints of training jobs, fetched per job and kept for finished jobs (theirs no longer change).

import { get } from "./api.js";
import { FINAL_STATES } from "./metrics/job-events.js";

const byJob = new Map();

/** The checkpoints of `job`, oldest first. */
export async function checkpointsOf(job) {
  if (byJob.has(job.id)) return byJob.get(job.id);
  const checkpoints = await get(`/v1/jobs/${job.id}/checkpoints`);
  if (FINAL_STATES.has(job.state)) byJob.set(job.id, checkpoints);
  return checkpoints;
}
