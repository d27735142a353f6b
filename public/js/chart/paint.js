// Draws a computed frame on a canvas: grid, tick labels, then each series, its raw values faint behind the
// smoothed line when smoothing is on.

const RAW_ALPHA_BEHIND_SMOOTHED = 0.25;

/** `theme`: {text, grid, axis, font} read from the page's CSS so the chart follows light and dark mode. */
export function paint(context, frame, theme, width, height) {
  context.clearRect(0, 0, width, height);
  context.font = theme.font;
  paintGrid(context, frame, theme);
  if (frame.empty) {
    context.fillStyle = theme.text;
    context.textAlign = "center";
    context.fillText("no data yet", (frame.plot.left + frame.plot.right) / 2, (frame.plot.top + frame.plot.bottom) / 2);
    return;
  }
  const { left, right, top, bottom } = frame.plot;
  context.save();
  context.beginPath();
  context.rect(left, top, right - left, bottom - top);
  context.clip();
  context.lineJoin = "round";
  context.lineCap = "round";
  for (const one of frame.drawn) {
    context.strokeStyle = one.color;
    context.setLineDash(one.dashed ? [6, 4] : []);
    context.lineWidth = 1.5;
    context.globalAlpha = one.smooth ? RAW_ALPHA_BEHIND_SMOOTHED : 1;
    strokePath(context, one.raw, frame);
    if (one.smooth) {
      context.globalAlpha = 1;
      context.lineWidth = 2;
      strokePath(context, one.smooth, frame);
    }
  }
  context.restore();
}

function paintGrid(context, frame, theme) {
  const { left, right, top, bottom } = frame.plot;
  context.lineWidth = 1;
  context.strokeStyle = theme.grid;
  context.fillStyle = theme.text;
  context.beginPath();
  context.textAlign = "right";
  context.textBaseline = "middle";
  for (const { value, label } of frame.yTicks) {
    const y = Math.round(frame.yScale.map(value)) + 0.5;
    if (!(y >= top - 1 && y <= bottom + 1)) continue;
    context.moveTo(left, y);
    context.lineTo(right, y);
    context.fillText(label, left - 6, y);
  }
  context.textAlign = "center";
  context.textBaseline = "top";
  for (const { value, label } of frame.xTicks) {
    const x = Math.round(frame.xScale.map(value)) + 0.5;
    if (x < left - 1 || x > right + 1) continue;
    context.moveTo(x, top);
    context.lineTo(x, bottom);
    context.fillText(label, x, bottom + 6);
  }
  context.stroke();
  context.strokeStyle = theme.axis;
  context.strokeRect(left + 0.5, top + 0.5, right - left, bottom - top);
}

/** One polyline; a NaN or a value the axis cannot show (≤ 0 on a log axis) starts a new piece. */
function strokePath(context, points, frame) {
  context.beginPath();
  let drawing = false;
  for (let i = 0; i < points.xs.length; i++) {
    const x = frame.xScale.map(points.xs[i]);
    const y = frame.yScale.map(points.ys[i]);
    if (!Number.isFinite(y)) {
      drawing = false;
      continue;
    }
    if (drawing) context.lineTo(x, y);
    else context.moveTo(x, y);
    drawing = true;
  }
  // A lone point would draw nothing as a path; the step at the start of a run deserves to be seen.
  if (points.xs.length === 1 && Number.isFinite(frame.yScale.map(points.ys[0]))) {
    context.lineTo(frame.xScale.map(points.xs[0]) + 0.01, frame.yScale.map(points.ys[0]));
  }
  context.stroke();
}
