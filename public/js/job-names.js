// How jobs are named on the page.

/** A training job's architecture: its preset, or how many layers its list has. */
export function architecture(job) {
  if (job.spec?.preset) return job.spec.preset;
  return job.spec?.layers ? `${job.spec.layers.length} layers` : "";
}

/** A run's name as every view shows it: `#12 fashion · fashion-convnet`. */
export function runName(job) {
  const model = architecture(job);
  return `#${job.id} ${job.dataset}${model ? ` · ${model}` : ""}`;
}
