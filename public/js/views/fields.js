// Form plumbing shared by the job and promote forms. An input's name is the JSON path of the value it sets
// (`optimizer.learning_rate`), which is also how the API names a field in a 422 (X-Invalid-Field), so an error
// finds its place beside the input that caused it.

import { h } from "../dom.js";

/** A labeled input with room for its error message: `<div class="field" data-field=NAME>`. */
export function field(label, input, hint) {
  return h("div", { class: "field", "data-field": input.name },
    h("label", {}, h("span", { class: "label" }, label), input),
    hint ? h("small", { class: "hint" }, hint) : null,
    h("div", { class: "error", role: "alert" }));
}

/**
 * A fieldset of fields. With `name`, the group is itself a field the API may name in an error (`augment: …`), and
 * the message shows below the group.
 */
export function group(legend, name, ...fields) {
  return h("fieldset", { class: name ? "group field" : "group", "data-field": name },
    h("legend", {}, legend), fields, name ? h("div", { class: "error", role: "alert" }) : null);
}

/** A number input; `kind` "int" or "float" decides how its value is read. */
export function numberInput(name, kind, props = {}) {
  return h("input", { type: "number", name, step: kind === "int" ? 1 : "any", "data-kind": kind, ...props });
}

/**
 * The JSON body a form describes: every named, enabled input outside a hidden part, at its path. Empty inputs and
 * unticked boxes are left out, so the server's defaults apply. Throws a FieldError for text that is not JSON.
 */
export function collect(form) {
  const body = {};
  for (const input of form.querySelectorAll("[name]")) {
    if (input.disabled || input.closest("[hidden]") || input.dataset.kind === undefined) continue;
    const value = read(input);
    if (value !== undefined) setPath(body, input.name, value);
  }
  return body;
}

function read(input) {
  const kind = input.dataset.kind;
  if (kind === "bool") return input.checked ? true : undefined;
  const text = input.value.trim();
  if (text === "") return undefined;
  if (kind === "int" || kind === "float") return Number(text);
  if (kind === "json") {
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new FieldError(input.name, `${input.name}: not valid JSON (${error.message})`);
    }
  }
  return text;
}

function setPath(target, path, value) {
  const keys = path.split(".");
  let node = target;
  for (const key of keys.slice(0, -1)) node = node[key] ??= {};
  node[keys[keys.length - 1]] = value;
}

/** A problem with one field found before sending. */
class FieldError extends Error {
  constructor(field, message) {
    super(message);
    this.field = field;
  }
}

export function clearErrors(form) {
  for (const element of form.querySelectorAll(".error")) element.textContent = "";
  for (const element of form.querySelectorAll(".invalid")) element.classList.remove("invalid");
}

/**
 * Shows `message` beside the field the error names: the API's X-Invalid-Field, or the name the message starts
 * with ("epochs: must be …"). A field that is not on the form gives way to its parent (`schedule.decay_steps` to
 * `schedule`), and to the form's general error line when nothing matches.
 */
export function showError(form, field, message) {
  const name = field ?? message.match(/^([\w.]+):/)?.[1];
  let place = null;
  for (let path = name; path && !place; path = path.includes(".") ? path.slice(0, path.lastIndexOf(".")) : null) {
    place = form.querySelector(`.field[data-field="${CSS.escape(path)}"]:not([hidden] .field)`);
  }
  const target = place?.querySelector(":scope > .error") ?? form.querySelector(".form-error");
  target.textContent = message;
  place?.classList.add("invalid");
  (place?.querySelector("[name]") ?? target).scrollIntoView({ block: "nearest" });
}
