// The confusion matrix of the served checkpoint as a heatmap: rows are true classes, columns predictions. Each
// cell's shade is its share of the row, so rare classes read as clearly as common ones.

import { h } from "../dom.js";
import { percent } from "../format.js";

/** A table for `{labels, matrix, accuracy, version}` from `/v1/models/NAME/confusion`. */
export function confusionTable({ labels, matrix, accuracy, version }) {
  const header = h("tr", {}, h("th", { class: "corner" }, "true ↓ / predicted →"),
    labels.map((label) => h("th", { scope: "col", class: "predicted" }, h("span", {}, label))));
  const rows = matrix.map((counts, row) => {
    const total = counts.reduce((sum, count) => sum + count, 0);
    return h("tr", {}, h("th", { scope: "row" }, labels[row]),
      counts.map((count, column) => {
        const share = total ? count / total : 0;
        return h("td", {
          class: row === column ? "diagonal" : "",
          style: `--share:${share.toFixed(3)}`,
          "data-dark": share > 0.5 ? "" : null,
          title: `true ${labels[row]}, predicted ${labels[column]}: ${count} (${percent(share)} of the row)`,
        }, count);
      }));
  });
  return h("div", { class: "table-scroll" },
    h("table", { class: "confusion", "data-classes": labels.length },
      h("caption", {}, `Version ${version} on the test split: accuracy ${percent(accuracy)}`),
      h("thead", {}, header), h("tbody", {}, rows)));
}
