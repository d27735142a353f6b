// The job list every view shares, refreshed from `/v1/jobs` every few seconds while the page is visible, so the
// jobs table, the run picker and the promote form agree.

import { getAll } from "./api.js";

const REFRESH_MS = 3000;
const listeners = new Set();
let jobs = [];
let lastError = null;
let timer = null;

export const allJobs = () => jobs;
export const jobsError = () => lastError;

/** Calls `listener(jobs)` now and after every refresh. */
export function onJobs(listener) {
  listeners.add(listener);
  listener(jobs);
}

/** Fetches the list now (after a submit or a cancel, say) and restarts the refresh timer. */
export async function refreshJobs() {
  clearTimeout(timer);
  try {
    jobs = await getAll("/v1/jobs");
    lastError = null;
  } catch (error) {
    lastError = error;
  }
  listeners.forEach((listener) => listener(jobs));
  clearTimeout(timer);
  if (document.visibilityState === "visible") timer = setTimeout(refreshJobs, REFRESH_MS);
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") refreshJobs();
  else clearTimeout(timer);
});
