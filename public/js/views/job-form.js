// The form that submits a training job (POST /v1/jobs). The server validates; its 422 message is shown beside
// the field it names, so the form itself checks only that layer JSON parses.

import { explain, get, post } from "../api.js";
import { h, replace } from "../dom.js";
import { clearErrors, collect, field, group, numberInput, showError } from "./fields.js";

const PRESETS = ["dogs-seed", "fashion-convnet", "fashion-bn", "catsdogs-seed", "cifar-cnn"];
const OPTIMIZERS = ["adam", "adamw", "sgd", "rmsprop"];
const SCHEDULES = ["constant", "exponential_decay", "step", "cosine", "reduce_on_plateau"];
const EXAMPLE_LAYERS = `[
  {"type": "conv2d", "filters": 8, "kernel": 3, "padding": "same", "activation": "relu"},
  {"type": "maxpool", "size": 2, "stride": 2},
  {"type": "flatten"},
  {"type": "dense", "units": 10}
]`;

/** A select; `kind` null keeps it out of the request body (it only switches other fields). */
const select = (name, options, kind = "text") =>
  h("select", { name, "data-kind": kind }, options.map(([value, label]) => h("option", { value }, label)));
const same = (values) => values.map((value) => [value, value]);

/** Wraps fields that apply only when `control` has one of `values`; they are hidden (and not sent) otherwise. */
function shownFor(control, values, ...fields) {
  const part = h("div", { class: "conditional" }, fields);
  const update = () => { part.hidden = !values.includes(control.value); };
  control.addEventListener("change", update);
  update();
  return part;
}

export class JobForm {
  /** `onSubmitted(job)` after the server accepted a job. */
  constructor(onSubmitted) {
    this.onSubmitted = onSubmitted;
    this.dataset = select("dataset", []);
    const architecture = select("architecture", [["preset", "a preset"], ["layers", "a layer list (JSON)"]], null);
    const optimizer = select("optimizer.name", same(OPTIMIZERS));
    const schedule = select("schedule.name", [["", "none (constant)"], ...same(SCHEDULES)]);
    this.result = h("p", { class: "form-result", role: "status" });
    this.button = h("button", { type: "submit", class: "primary" }, "Submit job");

    this.form = h("form", { class: "job-form", novalidate: true, onsubmit: (event) => this.submit(event) },
      group("Data and model", null,
        field("Dataset", this.dataset),
        field("Architecture", architecture),
        shownFor(architecture, ["preset"], field("Preset", select("preset", same(PRESETS)))),
        shownFor(architecture, ["layers"], field("Layers", h("textarea", {
          name: "layers", "data-kind": "json", rows: 6, spellcheck: false, value: EXAMPLE_LAYERS,
        }), "conv2d, maxpool, flatten, dense, …; the last dense layer is sized to the classes"))),
      group("Training", null,
        field("Epochs", numberInput("epochs", "int", { value: 10 })),
        field("Batch size", numberInput("batch_size", "int", { value: 64 })),
        field("Optimizer", optimizer),
        field("Learning rate", numberInput("optimizer.learning_rate", "float", { value: 0.001 })),
        shownFor(optimizer, ["sgd"],
          field("Momentum", numberInput("optimizer.momentum", "float", { placeholder: "0" }))),
        field("Seed", numberInput("seed", "int", { placeholder: "0" }))),
      group("Learning-rate schedule", "schedule",
        field("Schedule", schedule),
        shownFor(schedule, ["exponential_decay", "cosine"],
          field("Decay steps", numberInput("schedule.decay_steps", "int"))),
        shownFor(schedule, ["exponential_decay"],
          field("Decay rate", numberInput("schedule.decay_rate", "float")),
          field("Staircase", h("input", { type: "checkbox", name: "schedule.staircase", "data-kind": "bool" }))),
        shownFor(schedule, ["step"], field("Every (steps)", numberInput("schedule.every", "int"))),
        shownFor(schedule, ["step", "reduce_on_plateau"], field("Factor", numberInput("schedule.factor", "float"))),
        shownFor(schedule, ["cosine"], field("Alpha", numberInput("schedule.alpha", "float")))),
      group("Augmentation", "augment",
        field("Flip left-right", h("input", { type: "checkbox", name: "augment.flip", "data-kind": "bool" })),
        field("Shift (pixels)", numberInput("augment.shift", "int", { placeholder: "0" })),
        field("Rotation (degrees)", numberInput("augment.rotation", "float", { placeholder: "0" })),
        field("Brightness", numberInput("augment.brightness", "float", { placeholder: "0" })),
        field("Contrast", numberInput("augment.contrast", "float", { placeholder: "0" }))),
      h("div", { class: "form-actions" }, this.button, h("div", { class: "form-error error", role: "alert" }),
        this.result));
    this.element = h("section", { class: "panel" }, h("h2", {}, "Submit a training job"), this.form);
  }

  async loadDatasets() {
    try {
      const datasets = await get("/v1/datasets");
      const current = this.dataset.value;
      replace(this.dataset, datasets.length
        ? datasets.map((set) => h("option", { value: set.name },
          `${set.name} (${set.width}×${set.height}×${set.channels}, ${set.classes.length} classes)`))
        : h("option", { value: "" }, "no datasets yet: import one"));
      if (datasets.some((set) => set.name === current)) this.dataset.value = current;
    } catch (error) {
      showError(this.form, "dataset", `datasets: ${explain(error)}`);
    }
  }

  async submit(event) {
    event.preventDefault();
    clearErrors(this.form);
    this.result.textContent = "";
    this.button.disabled = true;
    try {
      const job = await post("/v1/jobs", collect(this.form));
      this.result.replaceChildren(`Job #${job.id} submitted. `,
        h("a", { href: `#scalars?runs=${job.id}` }, "Watch its scalars"));
      this.onSubmitted(job);
    } catch (error) {
      showError(this.form, error.field, explain(error));
    } finally {
      this.button.disabled = false;
    }
  }
}
