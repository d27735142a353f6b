// The jobs view: every job with its state and progress, a cancel button for unfinished ones, and the submit form.

import { explain, post } from "../api.js";
import { h, replace } from "../dom.js";
import { duration, dateTime, percent } from "../format.js";
import { architecture } from "../job-names.js";
import { allJobs, jobsError, onJobs, refreshJobs } from "../jobs-store.js";
import { FINAL_STATES } from "../metrics/job-events.js";
import { JobForm } from "./job-form.js";

const STATES = ["queued", "running", "succeeded", "failed", "cancelled"];
const COLUMNS = ["job", "state", "dataset", "model", "epoch", "progress", "best test acc.", "duration", "created", ""];

export class JobsView {
  constructor() {
    this.title = "Jobs";
    this.notice = h("p", { class: "notice", role: "alert", hidden: true });
    this.stateFilter = h("select", { "aria-label": "show jobs in state", onchange: () => this.render(allJobs()) },
      h("option", { value: "" }, "all states"), STATES.map((state) => h("option", { value: state }, state)));
    this.body = h("tbody");
    this.form = new JobForm(() => refreshJobs());
    this.element = h("section", { class: "view jobs" },
      h("section", { class: "panel" },
        h("div", { class: "panel-head" }, h("h2", {}, "Jobs"), this.stateFilter),
        this.notice,
        h("div", { class: "table-scroll" },
          h("table", { class: "jobs-table" },
            h("thead", {}, h("tr", {}, COLUMNS.map((name) => h("th", {}, name)))), this.body))),
      this.form.element);
    onJobs((jobs) => this.render(jobs));
  }

  show() {
    this.form.loadDatasets();
    refreshJobs();
  }

  hide() {}

  render(jobs) {
    const error = jobsError();
    this.say(error ? `Could not load jobs: ${explain(error)}` : "");
    const state = this.stateFilter.value;
    const shown = jobs.filter((job) => !state || job.state === state).reverse();
    replace(this.body, shown.length
      ? shown.map((job) => this.row(job))
      : h("tr", {}, h("td", { colspan: COLUMNS.length, class: "empty" }, "no jobs")));
  }

  row(job) {
    const train = job.kind === "train";
    const finished = FINAL_STATES.has(job.state);
    const end = job.finished_at ?? (job.started_at ? Date.now() / 1000 : null);
    return h("tr", { "data-job-id": job.id, "data-state": job.state },
      h("td", {}, train ? h("a", { href: `#scalars?runs=${job.id}`, title: "show its scalars" }, `#${job.id}`)
        : `#${job.id}`),
      h("td", {}, h("span", { class: `state ${job.state}` }, job.state),
        job.error ? h("div", { class: "job-error" }, job.error) : null),
      h("td", {}, job.dataset),
      h("td", {}, train ? architecture(job) : "import"),
      h("td", { class: "num" }, train ? epochText(job) : ""),
      h("td", {}, h("progress", { max: 1, value: job.progress ?? 0 }), " ", percent(job.progress ?? 0, 0)),
      h("td", { class: "num" }, percent(job.best_test_accuracy)),
      h("td", { class: "num" }, duration(job.started_at && end ? end - job.started_at : null)),
      h("td", {}, dateTime(job.created_at)),
      h("td", {}, finished ? ""
        : h("button", { type: "button", class: "small danger", onclick: () => this.cancel(job) }, "Cancel")));
  }

  async cancel(job) {
    try {
      await post(`/v1/jobs/${job.id}/cancel`);
      this.say("");
    } catch (error) {
      this.say(`Could not cancel job #${job.id}: ${explain(error)}`);
    }
    refreshJobs();
  }

  say(message) {
    this.notice.textContent = message;
    this.notice.hidden = !message;
  }
}

/** "3 / 10" while running (the epoch under way), the epochs done otherwise. */
function epochText(job) {
  const epochs = job.spec?.epochs;
  if (!epochs) return "";
  const done = Math.floor((job.progress ?? 0) * epochs + 1e-9);
  if (job.state === "queued") return `– / ${epochs}`;
  return `${job.state === "running" ? Math.min(epochs, done + 1) : done} / ${epochs}`;
}
