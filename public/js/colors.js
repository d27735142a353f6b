// Run colors: fixed by job id, so a run keeps its color whatever else is selected and after a reload. Hues step
// by the golden angle, which keeps neighbouring ids far apart on the color wheel.

const GOLDEN_ANGLE = 137.508;
const dark = matchMedia("(prefers-color-scheme: dark)");

export function runColor(jobId) {
  const hue = (jobId * GOLDEN_ANGLE + 200) % 360;
  // Lighter on a dark background, darker on a light one, so every hue keeps its contrast.
  return dark.matches ? `hsl(${hue.toFixed(1)} 75% 65%)` : `hsl(${hue.toFixed(1)} 70% 42%)`;
}
