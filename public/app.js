// Kennel's dashboard: three views behind the address's hash (#scalars, #jobs, #models), the API token field, and
// the shared job list that keeps them current.

import { storedToken, storeToken } from "./js/api.js";
import { refreshJobs } from "./js/jobs-store.js";
import { JobsView } from "./js/views/jobs.js";
import { ModelsView } from "./js/views/models.js";
import { ScalarsView } from "./js/views/scalars.js";

const views = { scalars: new ScalarsView(), jobs: new JobsView(), models: new ModelsView() };
const main = document.querySelector("main");
const nav = document.querySelector("nav");
let current = null;

for (const [name, view] of Object.entries(views)) {
  view.element.hidden = true;
  view.element.dataset.view = name;
  main.append(view.element);
  nav.append(Object.assign(document.createElement("a"), { href: `#${name}`, textContent: view.title }));
}

/** `#jobs`, or `#scalars?runs=3,4`: a view and its parameters. */
function route() {
  const [name, query = ""] = location.hash.slice(1).split("?");
  const view = views[name] ? name : "scalars";
  if (current && current !== view) {
    views[current].hide();
    views[current].element.hidden = true;
  }
  current = view;
  views[view].element.hidden = false;
  views[view].show(Object.fromEntries(new URLSearchParams(query)));
  document.title = `${views[view].title} · Kennel`;
  for (const link of nav.querySelectorAll("a")) {
    link.toggleAttribute("aria-current", link.getAttribute("href") === `#${view}`);
  }
}

const token = document.querySelector("#token");
token.value = storedToken();
token.addEventListener("change", () => storeToken(token.value.trim()));

addEventListener("hashchange", route);
route();
refreshJobs();
