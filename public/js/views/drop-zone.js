// A file drop zone: a label holding a file input, so a click picks a file and a drop hands one over.

import { h } from "../dom.js";

/** The zone (`label.drop-zone`) saying "Drop `what` here, or choose a file"; `onFile(file)` for each file given. */
export function dropZone(what, accept, name, onFile) {
  const picker = h("input", { type: "file", accept, name, onchange: () => picker.files[0] && onFile(picker.files[0]) });
  const zone = h("label", { class: "drop-zone" }, h("span", {}, `Drop ${what} here, or `, h("u", {}, "choose a file")),
    picker);
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    const file = event.dataTransfer.files[0];
    if (file) onFile(file);
  });
  return zone;
}
