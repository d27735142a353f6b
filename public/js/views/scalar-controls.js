// The settings above the charts: smoothing, x-axis, log scale for loss, outlier clipping, CSV download.

import { h } from "../dom.js";
import { X_AXES } from "../metrics/x-axis.js";

export class ScalarControls {
  /** `onChange(settings)` whenever one changes; `settings` is {smoothing, xAxis, logLoss, clipOutliers}. */
  constructor(onChange) {
    this.settings = { smoothing: 0.6, xAxis: X_AXES.step, logLoss: false, clipOutliers: false };
    const changed = (patch) => {
      Object.assign(this.settings, patch);
      onChange(this.settings);
    };
    const smoothingValue = h("output", {}, this.settings.smoothing.toFixed(2));
    const slider = h("input", {
      type: "range", min: 0, max: 0.99, step: 0.01, value: this.settings.smoothing, name: "smoothing",
      oninput: () => {
        smoothingValue.textContent = Number(slider.value).toFixed(2);
        changed({ smoothing: Number(slider.value) });
      },
    });
    const axisChoices = Object.values(X_AXES).map((axis) =>
      h("label", {}, h("input", { type: "radio", name: "x-axis", value: axis.key, checked: axis.key === "step",
        onchange: () => changed({ xAxis: axis }) }), axis.key));
    const toggle = (label, name, key) => h("label", {},
      h("input", { type: "checkbox", name, onchange: (event) => changed({ [key]: event.target.checked }) }), label);
    this.csv = h("a", { class: "button", download: "kennel-metrics.csv", href: "/v1/metrics.csv" }, "Download CSV");
    this.element = h("div", { class: "scalar-controls" },
      h("label", { class: "smoothing" }, "Smoothing", slider, smoothingValue),
      h("fieldset", { class: "x-axis" }, h("legend", {}, "x-axis"), axisChoices),
      toggle("log loss", "log-loss", "logLoss"),
      toggle("ignore outliers", "clip-outliers", "clipOutliers"),
      this.csv);
  }

  /** Points the CSV download at the selected runs. */
  setRuns(ids) {
    this.csv.href = `/v1/metrics.csv?jobs=${ids.join(",")}`;
    this.csv.toggleAttribute("aria-disabled", ids.length === 0);
  }
}
