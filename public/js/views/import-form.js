// Import a model saved by Keras (POST /v1/models, multipart): drop a .keras or .h5 file (or pick one), name the
// model, optionally name its classes. The new version is served at once; a layer Kennel lacks is named in the error.

import { explain, post } from "../api.js";
import { h } from "../dom.js";
import { dropZone } from "./drop-zone.js";
import { clearErrors, field, showError } from "./fields.js";

export class ImportForm {
  /** `onImported(model)` after the server made the new version. */
  constructor(onImported) {
    this.onImported = onImported;
    this.file = null;
    this.chosen = h("span", { class: "muted" }, "no file yet");
    this.zone = dropZone("a .keras or .h5 file", ".keras,.h5", "file", (file) => this.choose(file));
    this.name = h("input", { name: "name", placeholder: "e.g. dogs", autocomplete: "off" });
    this.labels = h("input", { name: "labels", placeholder: "beagle, boxer, … (default 0, 1, …)", autocomplete: "off" });
    this.result = h("p", { class: "form-result", role: "status" });
    this.form = h("form", { class: "import-form", novalidate: true, onsubmit: (event) => this.submit(event) },
      h("div", { class: "field", "data-field": "file" }, this.zone, this.chosen, h("div", { class: "error", role: "alert" })),
      field("Model name", this.name, "a new name, or an existing one to add a version"),
      field("Class names", this.labels, "in the model's output order, separated by commas"),
      h("div", { class: "form-actions" }, h("button", { type: "submit", class: "primary" }, "Import"),
        h("div", { class: "form-error error", role: "alert" }), this.result));
    this.element = h("section", { class: "panel" }, h("h2", {}, "Import a Keras model"), this.form);
  }

  choose(file) {
    this.file = file;
    this.chosen.textContent = `${file.name} (${(file.size / 1024).toFixed(0)} KB)`;
    if (!this.name.value.trim()) this.name.value = file.name.replace(/\.(keras|h5)$/i, "").replace(/[^A-Za-z0-9._-]/g, "-");
  }

  async submit(event) {
    event.preventDefault();
    clearErrors(this.form);
    this.result.textContent = "";
    if (!this.file) {
      showError(this.form, "file", "choose a .keras or .h5 file first");
      return;
    }
    const body = new FormData();
    body.append("file", this.file, this.file.name);
    body.append("name", this.name.value.trim());
    if (this.labels.value.trim()) body.append("labels", this.labels.value.trim());
    this.result.textContent = "importing…";
    try {
      const model = await post("/v1/models", body);
      this.result.textContent = `${model.name} version ${model.version} (from ${model.origin}) is now served.`;
      this.onImported(model);
    } catch (error) {
      this.result.textContent = "";
      // A 422 about the file itself (an unsupported layer) belongs beside the drop zone.
      showError(this.form, error.field ?? (error.code === "unsupported_model" ? "file" : undefined), explain(error));
    }
  }
}
