// A small element builder, so views read as the markup they make.

/**
 * `h("button", {class: "primary", onclick: f, "data-id": 3}, "Cancel")`: an element with attributes, event
 * handlers (`on…` functions) and properties (`value`, `checked`, … when the key is a property of the element),
 * and children (strings, nodes, arrays of them; null and false are skipped).
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") element.addEventListener(key.slice(2), value);
    else if (key in element && !key.startsWith("data-") && typeof element[key] !== "function" && key !== "list") {
      element[key] = value;
    } else element.setAttribute(key, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces everything inside `parent` with `children`. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  append(parent, children);
  return parent;
}
