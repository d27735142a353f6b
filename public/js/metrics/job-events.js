// A job's live event stream (`/v1/jobs/ID/events`). EventSource reconnects by itself after a dropped
// connection, sending Last-Event-ID so the server replays only what was missed. The server closes the stream after
// the job's final state; this closes it first, so the browser does not reconnect to a finished job forever.

export const FINAL_STATES = new Set(["succeeded", "failed", "cancelled"]);

/**
 * Follows job `id`, calling `handlers.metric(point)`, `handlers.state({job_id, state, progress})` and
 * `handlers.trouble(message or null)` when the connection fails or recovers. (Checkpoint events are not needed.)
 * On connecting, the server first replays the job's history. Returns a function that stops following.
 */
export function followJob(id, handlers) {
  const source = new EventSource(`/v1/jobs/${id}/events`);
  const on = (type, handle) => source.addEventListener(type, (event) => handle(JSON.parse(event.data)));
  on("metric", handlers.metric);
  on("state", (state) => {
    handlers.state(state);
    if (FINAL_STATES.has(state.state)) source.close();
  });
  source.addEventListener("open", () => handlers.trouble(null));
  source.addEventListener("error", () => {
    // CONNECTING: the browser is retrying by itself. CLOSED: it gave up (an HTTP error status, say).
    handlers.trouble(source.readyState === EventSource.CLOSED
      ? "live updates are unavailable for this job"
      : "connection lost, reconnecting…");
  });
  return () => source.close();
}
