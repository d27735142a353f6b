// The run list of the scalars view: train jobs with a checkbox, their color and state, and a text filter.

import { h, replace } from "../dom.js";
import { runColor } from "../colors.js";
import { runName } from "../job-names.js";

export class RunPicker {
  /** `onChange(selectedIds)` after the person ticks or unticks runs. */
  constructor(onChange) {
    this.onChange = onChange;
    this.jobs = [];
    this.selected = new Set();
    this.statuses = new Map();
    this.filter = h("input", {
      type: "search", placeholder: "filter runs", "aria-label": "filter runs", oninput: () => this.render(),
    });
    this.list = h("ul", { class: "runs" });
    this.element = h("section", { class: "run-picker" },
      h("div", { class: "run-picker-head" }, this.filter,
        h("button", { type: "button", class: "small", onclick: () => this.selectVisible(true) }, "all"),
        h("button", { type: "button", class: "small", onclick: () => this.selectVisible(false) }, "none")),
      this.list);
  }

  setJobs(jobs) {
    this.jobs = jobs.filter((job) => job.kind === "train").reverse();
    this.render();
  }

  setSelected(ids) {
    this.selected = new Set(ids);
    this.render();
  }

  /** Shows a selected run's loading or streaming status beside it. */
  setStatus(id, status) {
    if (this.statuses.get(id) === status) return;
    this.statuses.set(id, status);
    const note = this.list.querySelector(`li[data-run="${id}"] .status`);
    if (note) note.textContent = status === "complete" ? "" : status;
  }

  visibleJobs() {
    const words = this.filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    return this.jobs.filter((job) => {
      const text = `${runName(job)} ${job.state}`.toLowerCase();
      return words.every((word) => text.includes(word));
    });
  }

  selectVisible(on) {
    for (const job of this.visibleJobs()) {
      if (on) this.selected.add(job.id);
      else this.selected.delete(job.id);
    }
    this.render();
    this.onChange([...this.selected]);
  }

  toggle(id, on) {
    if (on) this.selected.add(id);
    else this.selected.delete(id);
    this.onChange([...this.selected]);
  }

  render() {
    const items = this.visibleJobs().map((job) => {
      const status = this.selected.has(job.id) ? this.statuses.get(job.id) : undefined;
      return h("li", { "data-run": job.id },
        h("label", {},
          h("input", { type: "checkbox", checked: this.selected.has(job.id),
            onchange: (event) => this.toggle(job.id, event.target.checked) }),
          h("span", { class: "swatch", style: `--color:${runColor(job.id)}` }),
          h("span", { class: "run-name" }, runName(job)),
          h("span", { class: `state ${job.state}` }, job.state),
          h("span", { class: "status" }, status && status !== "complete" ? status : "")));
    });
    replace(this.list, items.length ? items : h("li", { class: "empty" }, "no training runs yet"));
  }
}
