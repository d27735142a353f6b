// Try a model: drop an image (or pick a file), see its top five classes as labeled probability bars, with the
// latency measured here and the server's own timing.

import { explain, post } from "../api.js";
import { h, replace } from "../dom.js";
import { dropZone } from "./drop-zone.js";
import { number, percent } from "../format.js";

const TOP_K = 5;

export class ClassifyPanel {
  constructor() {
    this.model = null;
    this.preview = h("img", { class: "preview", alt: "", hidden: true });
    this.result = h("div", { class: "classify-result", "aria-live": "polite" });
    this.zone = dropZone("a PNG or JPEG", "image/png,image/jpeg", "image", (file) => this.classify(file));
    this.element = h("div", { class: "classify" }, this.zone, h("div", { class: "classify-output" },
      this.preview, this.result));
  }

  /** The model name images are sent to. */
  setModel(name) {
    this.model = name;
  }

  async classify(file) {
    if (!this.model) {
      replace(this.result, h("p", { class: "notice" }, "No model to ask: promote a job first."));
      return;
    }
    URL.revokeObjectURL(this.preview.src);
    this.preview.src = URL.createObjectURL(file);
    this.preview.hidden = false;
    replace(this.result, h("p", { class: "muted" }, "classifying…"));
    const started = performance.now();
    try {
      const answer = await post(`/v1/models/${encodeURIComponent(this.model)}:classify?top_k=${TOP_K}`, file);
      this.show(answer, performance.now() - started);
    } catch (error) {
      replace(this.result, h("p", { class: "notice" }, explain(error)));
    }
  }

  show({ model, version, predictions, timing_ms: timing }, elapsed) {
    const bars = predictions.map(({ label, probability }) =>
      h("li", { "data-label": label, "data-probability": probability },
        h("span", { class: "bar-label" }, label),
        h("span", { class: "bar" }, h("span", { class: "fill", style: `width:${(probability * 100).toFixed(1)}%` })),
        h("span", { class: "bar-value" }, percent(probability))));
    replace(this.result,
      h("ol", { class: "predictions" }, bars),
      h("p", { class: "latency" }, `${model} v${version} · ${number(elapsed, 3)} ms round trip`,
        timing ? ` (server: decode ${number(timing.decode, 2)} ms, infer ${number(timing.infer, 2)} ms)` : ""));
  }
}
