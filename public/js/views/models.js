// The models view: every name and version with its origin, precision and test accuracy, an ONNX download,
// promotion, Keras import and rollback, and for the chosen
// model's served version: its first-layer filters, its confusion matrix and a place to classify an image.

import { explain, get, post } from "../api.js";
import { h, replace } from "../dom.js";
import { dateTime, percent } from "../format.js";
import { onJobs } from "../jobs-store.js";
import { ClassifyPanel } from "./classify.js";
import { confusionTable } from "./confusion.js";
import { ImportForm } from "./import-form.js";
import { PromoteForm } from "./promote-form.js";

export class ModelsView {
  constructor() {
    this.title = "Models";
    this.models = [];
    this.notice = h("p", { class: "notice", role: "alert", hidden: true });
    this.body = h("tbody");
    this.chooser = h("select", { name: "model", "aria-label": "model", onchange: () => this.showServed() });
    this.filters = h("div", { class: "filters" });
    this.confusion = h("div", { class: "confusion-holder" });
    this.classifier = new ClassifyPanel();
    this.promote = new PromoteForm(() => this.load());
    this.importer = new ImportForm(() => this.load());
    this.element = h("section", { class: "view models" },
      h("section", { class: "panel" }, h("h2", {}, "Models"), this.notice,
        h("div", { class: "table-scroll" }, h("table", { class: "models-table" },
          h("thead", {}, h("tr", {}, ["name", "version", "origin", "checkpoint", "precision", "test accuracy", "created",
            "", "", ""]
            .map((name) => h("th", {}, name)))),
          this.body))),
      this.promote.element,
      this.importer.element,
      h("section", { class: "panel served" },
        h("div", { class: "panel-head" }, h("h2", {}, "Served model"), this.chooser),
        h("h3", {}, "Classify an image"), this.classifier.element,
        h("div", { class: "served-details" },
          h("div", {}, h("h3", {}, "First-layer filters"), this.filters),
          h("div", {}, h("h3", {}, "Confusion matrix"), this.confusion))));
    onJobs((jobs) => this.promote.setJobs(jobs));
  }

  show() {
    this.load();
  }

  hide() {}

  async load() {
    try {
      this.models = await get("/v1/models");
      this.say("");
    } catch (error) {
      this.say(`Could not load models: ${explain(error)}`);
      return;
    }
    this.renderTable();
    this.renderChooser();
  }

  renderTable() {
    const names = new Set();
    const rows = [...this.models].reverse().map((model) => {
      // The newest version of each name carries the name's rollback button.
      const first = !names.has(model.name);
      names.add(model.name);
      return h("tr", { "data-model": model.name, "data-version": model.version },
        h("td", {}, model.name),
        h("td", { class: "num" }, `v${model.version}`),
        h("td", { class: "origin" }, model.origin === "trained" ? "trained" : `imported (.${model.origin})`),
        h("td", { class: "num" }, `#${model.checkpoint_id} (job ${model.job_id})`),
        h("td", {}, model.precision),
        h("td", { class: "num", title: model.precision === "fp32" ? "" : `fp32: ${percent(model.fp32_test_accuracy)}` },
          model.precision === "fp32" ? percent(model.test_accuracy)
            : `${percent(model.test_accuracy)} (fp32 ${percent(model.fp32_test_accuracy)})`),
        h("td", {}, dateTime(model.created_at)),
        h("td", {}, model.served ? h("span", { class: "state served" }, "served") : ""),
        h("td", {}, h("a", { class: "download", download: `${model.name}-v${model.version}.onnx`,
          href: `/v1/models/${encodeURIComponent(model.name)}/versions/${model.version}/model.onnx` }, "ONNX")),
        h("td", {}, first ? h("button", { type: "button", class: "small", onclick: () => this.rollback(model.name) },
          "Roll back") : ""));
    });
    replace(this.body, rows.length ? rows : h("tr", {}, h("td", { colspan: 10, class: "empty" },
      "no models yet: promote a finished job or import a Keras model below")));
  }

  renderChooser() {
    const served = this.models.filter((model) => model.served);
    const current = this.chooser.value;
    replace(this.chooser, served.length
      ? served.map((model) => h("option", { value: model.name }, `${model.name} (v${model.version})`))
      : h("option", { value: "" }, "none"));
    if (served.some((model) => model.name === current)) this.chooser.value = current;
    this.showServed();
  }

  /** Filters, confusion matrix and classification for the chosen name's served version. */
  async showServed() {
    const model = this.models.find((candidate) => candidate.served && candidate.name === this.chooser.value);
    this.classifier.setModel(model?.name ?? null);
    if (!model) {
      replace(this.filters, h("p", { class: "muted" }, "no served model"));
      replace(this.confusion);
      return;
    }
    if (this.confusion.dataset.shown === `${model.name}@${model.version}`) return;
    this.confusion.dataset.shown = `${model.name}@${model.version}`;
    const path = `/v1/models/${encodeURIComponent(model.name)}`;
    const image = h("img", { src: `${path}/filters.png?version=${model.version}`, alt: "first-layer filters",
      class: "filter-grid" });
    image.addEventListener("error", () => replace(this.filters, h("p", { class: "notice" }, "no filter image")));
    replace(this.filters, image);
    replace(this.confusion, h("p", { class: "muted" }, "computing on the test split…"));
    try {
      replace(this.confusion, confusionTable(await get(`${path}/confusion`)));
    } catch (error) {
      replace(this.confusion, h("p", { class: "notice" }, `No confusion matrix: ${explain(error)}`));
    }
  }

  async rollback(name) {
    try {
      await post(`/v1/models/${encodeURIComponent(name)}/rollback`);
      this.say("");
    } catch (error) {
      this.say(`Could not roll back ${name}: ${explain(error)}`);
    }
    this.load();
  }

  say(message) {
    this.notice.textContent = message;
    this.notice.hidden = !message;
  }
}
