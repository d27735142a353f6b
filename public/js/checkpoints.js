// Checkpoints of training jobs, fetched per job and kept for finished jobs (theirs no longer change). A model
// names only its checkpoint id, so finding a version's test accuracy means looking through jobs' checkpoints.

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

/** A map from checkpoint id to checkpoint for `ids`, searching the training jobs in `jobs`, newest first. */
export async function findCheckpoints(ids, jobs) {
  const wanted = new Set(ids);
  const found = new Map();
  for (const job of [...jobs].reverse()) {
    if (wanted.size === found.size) break;
    if (job.kind !== "train" || job.state === "queued") continue;
    for (const checkpoint of await checkpointsOf(job)) {
      if (wanted.has(checkpoint.id)) found.set(checkpoint.id, checkpoint);
    }
  }
  return found;
}
