// Promote a training job's checkpoint to a model version (POST /v1/models): its best checkpoint unless one is
// picked, in fp32 or a reduced precision.

import { explain, post } from "../api.js";
import { h, replace } from "../dom.js";
import { checkpointsOf } from "../checkpoints.js";
import { percent } from "../format.js";
import { runName } from "../job-names.js";
import { clearErrors, collect, field, showError } from "./fields.js";

export class PromoteForm {
  /** `onPromoted(model)` after the server made the new version. */
  constructor(onPromoted) {
    this.onPromoted = onPromoted;
    this.jobs = [];
    this.job = h("select", { name: "job_id", "data-kind": "int", onchange: () => this.jobChosen() });
    this.checkpoint = h("select", { name: "checkpoint", "data-kind": "int" });
    // The name follows the chosen job's dataset until the person types one.
    this.nameTyped = false;
    this.name = h("input", { name: "name", "data-kind": "text", placeholder: "e.g. fashion", autocomplete: "off",
      oninput: () => { this.nameTyped = true; } });
    this.precision = h("select", { name: "precision", "data-kind": "text" },
      [["fp32", "fp32"], ["bf16", "bf16 (measured on the test split)"], ["int8", "int8 (calibrated, measured)"]]
        .map(([value, label]) => h("option", { value }, label)));
    this.choice = 0;
    this.result = h("p", { class: "form-result", role: "status" });
    this.form = h("form", { class: "promote-form", novalidate: true, onsubmit: (event) => this.submit(event) },
      field("Job", this.job),
      field("Checkpoint", this.checkpoint),
      field("Model name", this.name, "a new name, or an existing one to add a version"),
      field("Precision", this.precision, "bf16 and int8 are faster; refused if they lose more than 0.5 points"),
      h("div", { class: "form-actions" }, h("button", { type: "submit", class: "primary" }, "Promote"),
        h("div", { class: "form-error error", role: "alert" }), this.result));
    this.element = h("section", { class: "panel" }, h("h2", {}, "Promote a checkpoint"), this.form);
  }

  /** Offers the training jobs that have written checkpoints (they write one per epoch). */
  setJobs(jobs) {
    const candidates = jobs.filter((job) => job.kind === "train" && job.progress > 0).reverse();
    if (candidates.map((job) => job.id).join() === this.jobs.map((job) => job.id).join()) return;
    const current = this.job.value;
    this.jobs = candidates;
    replace(this.job, candidates.length
      ? candidates.map((job) => h("option", { value: job.id }, `${runName(job)} (${job.state})`))
      : h("option", { value: "" }, "no training jobs yet"));
    if (candidates.some((job) => String(job.id) === current)) this.job.value = current;
    this.jobChosen();
  }

  async jobChosen() {
    const job = this.jobs.find((candidate) => String(candidate.id) === this.job.value);
    const choice = ++this.choice;
    replace(this.checkpoint, h("option", { value: "" }, "best (highest test accuracy)"));
    if (!job) return;
    if (!this.nameTyped) this.name.value = job.dataset;
    try {
      const checkpoints = await checkpointsOf(job);
      // Another job may have been chosen while these loaded.
      if (choice !== this.choice) return;
      this.checkpoint.append(...checkpoints.map((checkpoint) => h("option", { value: checkpoint.id },
        `epoch ${checkpoint.epoch}, step ${checkpoint.step}: test accuracy ${
          percent(checkpoint.metrics?.["test/accuracy"])}`)));
    } catch (error) {
      showError(this.form, "checkpoint", explain(error));
    }
  }

  async submit(event) {
    event.preventDefault();
    clearErrors(this.form);
    this.result.textContent = "";
    try {
      const model = await post("/v1/models", collect(this.form));
      const measured = model.precision === "fp32" ? ""
        : ` in ${model.precision}: ${percent(model.test_accuracy)} test accuracy (fp32 ${percent(model.fp32_test_accuracy)})`;
      this.result.textContent = `${model.name} version ${model.version} is now served${measured}.`;
      this.onPromoted(model);
    } catch (error) {
      showError(this.form, error.field, explain(error));
    }
  }
}
