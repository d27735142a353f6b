// The scalars view: TensorBoard-style charts of the selected runs, updating live for running jobs.

import { h } from "../dom.js";
import { runColor } from "../colors.js";
import { number } from "../format.js";
import { runName } from "../job-names.js";
import { onJobs } from "../jobs-store.js";
import { LineChart } from "../chart/line-chart.js";
import { Run } from "../metrics/run.js";
import { smoothed } from "../metrics/smoothing.js";
import { RunPicker } from "./run-picker.js";
import { ScalarControls } from "./scalar-controls.js";

const CHARTS = [
  { name: "loss", title: "loss", tags: ["train/loss", "test/loss"], logToggle: true },
  { name: "accuracy", title: "accuracy", tags: ["train/accuracy", "test/accuracy"] },
  { name: "learning_rate", title: "learning rate", tags: ["train/learning_rate"] },
  { name: "images_per_s", title: "images / s", tags: ["train/images_per_s"] },
];
const DEFAULT_SELECTION = 5;

export class ScalarsView {
  constructor() {
    this.title = "Scalars";
    this.runs = new Map();
    this.selected = [];
    this.visible = false;
    this.drawPending = false;
    this.lastDraw = { end: 0, took: 0 };
    // The runs the person asked for; until then (null) the newest few are shown.
    this.wanted = null;
    this.picker = new RunPicker((ids) => this.choose(ids));
    this.controls = new ScalarControls(() => this.scheduleDraw());
    this.charts = CHARTS.map((spec) => ({ spec, chart: new LineChart(spec.title, spec.name) }));
    this.element = h("section", { class: "view scalars" },
      h("aside", {}, this.picker.element),
      h("div", { class: "scalars-main" }, this.controls.element,
        h("div", { class: "charts" }, this.charts.map(({ chart }) => chart.element))));
    onJobs((jobs) => this.jobsChanged(jobs));
    // Run colors depend on the color scheme.
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
      this.picker.render();
      this.scheduleDraw();
    });
  }

  /** `params.runs`: comma-separated job ids to show (from the address, e.g. a jobs-table link). */
  show(params) {
    this.visible = true;
    if (params.runs !== undefined) this.choose(params.runs.split(",").filter(Boolean).map(Number));
    this.scheduleDraw();
  }

  hide() {
    this.visible = false;
  }

  jobsChanged(jobs) {
    this.picker.setJobs(jobs);
    this.applySelection();
  }

  choose(ids) {
    this.wanted = ids;
    this.applySelection();
    if (this.visible) history.replaceState(null, "", `#scalars?runs=${this.selected.join(",")}`);
  }

  /** Shows the wanted runs that exist (a link may name a job the list has not loaded yet). */
  applySelection() {
    const jobs = new Map(this.picker.jobs.map((job) => [job.id, job]));
    const ids = (this.wanted ?? this.picker.jobs.slice(0, DEFAULT_SELECTION).map((job) => job.id))
      .filter((id) => jobs.has(id));
    if (ids.join() === this.selected.join()) return;
    this.selected = ids;
    for (const [id, run] of this.runs) if (!ids.includes(id)) run.pause();
    for (const id of ids) {
      if (!this.runs.has(id)) this.runs.set(id, new Run(jobs.get(id), (run) => this.runChanged(run)));
      this.runs.get(id).start();
    }
    this.picker.setSelected(ids);
    this.controls.setRuns(ids);
    this.scheduleDraw();
  }

  runChanged(run) {
    this.picker.setStatus(run.job.id, run.status);
    if (this.selected.includes(run.job.id)) this.scheduleDraw();
  }

  /**
   * Live points can arrive by the hundred per second: charts are redrawn at most once per animation frame, and
   * after a draw that took long (many runs, many points) the next one waits as long, so the page never spends
   * more than about half its time drawing and stays responsive.
   */
  scheduleDraw() {
    if (this.drawPending || !this.visible) return;
    this.drawPending = true;
    const wait = Math.max(0, this.lastDraw.end + this.lastDraw.took - performance.now());
    setTimeout(() => requestAnimationFrame(() => {
      this.drawPending = false;
      const start = performance.now();
      this.draw();
      this.lastDraw = { end: performance.now(), took: performance.now() - start };
    }), wait);
  }

  draw() {
    const settings = this.controls.settings;
    for (const { spec, chart } of this.charts) {
      const series = [];
      for (const id of this.selected) {
        const run = this.runs.get(id);
        for (const tag of spec.tags) {
          const data = run.tags.get(tag);
          if (!data?.length) continue;
          series.push({
            key: `${id}:${tag}`,
            label: `${runName(run.job)} ${spec.tags.length > 1 ? tag.split("/")[0] : ""}`.trim(),
            color: runColor(id),
            dashed: tag.startsWith("test/"),
            xs: settings.xAxis.values(run, data),
            ys: data.values,
            steps: data.steps,
            smoothed: settings.smoothing > 0 ? smoothed(data, settings.smoothing) : null,
            version: `${data.length}:${data.rewrites}`,
          });
        }
      }
      chart.update(series, {
        xAxis: settings.xAxis,
        logY: Boolean(spec.logToggle && settings.logLoss),
        clipOutliers: settings.clipOutliers,
        yFormat: (value) => number(value, 3),
      });
    }
  }
}
