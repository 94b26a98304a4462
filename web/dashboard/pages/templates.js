// Templates: the list and a new template (#/templates), and one template (#/templates/<id>) in three tabs:
// - Roles: what each role may publish (publishParams.allowed), whom it sees (subscribeParams.subscribeToRoles)
//   and its permissions; add or delete a role (GET|POST|DELETE /v2/templates/:id/roles/:role).
// - Recording & HLS: the template's one recording config (POST …/recordings) and its HLS destinations
//   (POST …/destinations {hlsDestinations}).
// - Destinations (storage): the bucket recordings are uploaded to (POST …/settings {recording: {upload}})
//   and "Validate Config" (POST /v2/storage/validate).
// Every save sends the stored object back with only the form's fields changed, so keys this page does not
// show (codec, priority, thumbnails…) are kept. The storage secret is write-only: the API returns only the
// access key, the form never shows a secret, and saving with the secret field empty keeps the stored one.

import { listAll } from "../api.js";
import { busy, el, formatTime, problem, table } from "../ui.js";
import { field } from "./template-form.js";
import { recordingSection } from "./template-recording.js";
import { rolesSection } from "./template-roles.js";
import { storageSection } from "./template-storage.js";

/** The tab last shown for each template, so a re-render keeps the user where they were. */
const lastTab = new Map();

export async function render(view, ctx) {
  if (ctx.page === "template") return renderTemplate(view, ctx, ctx.params[0]);
  return renderList(view, ctx);
}

// ------------------------------------------------------------------------------------------- the list

async function renderList(view, { api, navigate, showOk }) {
  const templates = await listAll("/v2/templates");
  const name = el("input", {
    id: "template-name",
    "data-testid": "template-name",
    placeholder: "e.g. webinar",
    maxlength: 100,
    autocomplete: "off",
  });
  const create = el("button", { type: "submit", class: "primary", "data-testid": "create-template" }, "Create template");
  const form = el(
    "form",
    { novalidate: true, class: "panel" },
    el("h2", {}, "New template"),
    el("div", { class: "row" }, field("Name (letters, digits, . - : _; empty: a generated name)", name), create),
    el("p", { class: "muted" }, "It starts with two roles: host (may do everything) and guest; change them on its page."),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void busy(create, "Creating…", async () => {
      const wanted = name.value.trim();
      // POST /v2/templates with an existing name overwrites that template (as in 100ms): not what "create" means.
      const clash = templates.find((t) => t.name.toLowerCase() === wanted.toLowerCase());
      if (wanted && clash)
        throw problem(`A template named ${clash.name} already exists`, [
          "template names are case-insensitive: pick another name, or open that template to change it",
        ]);
      const t = await api("POST", "/v2/templates", wanted ? { name: wanted } : {});
      showOk(`Template ${t.name} created`, [`roles: ${Object.keys(t.roles ?? {}).join(", ")}`]);
      navigate(`#/templates/${t.id}`);
    });
  });

  const rows = templates.map((t) => [
    el("a", { href: `#/templates/${t.id}`, "data-testid": "template-link" }, t.name),
    el("span", { class: "mono" }, t.id),
    el(
      "span",
      { class: "tpl-badges", "data-testid": "template-roles" },
      ...Object.keys(t.roles ?? {}).map((r) => el("span", { class: "badge" }, r)),
    ),
    formatTime(t.createdAt),
  ]);
  view.replaceChildren(
    el(
      "div",
      { class: "tpl-page" },
      el("h1", {}, "Templates"),
      form,
      el(
        "div",
        { class: "panel" },
        table(["Name", "Id", "Roles", "Created"], rows, {
          testid: "templates",
          rowIds: templates.map((t) => t.id),
          empty: "No templates yet: create one above.",
        }),
      ),
    ),
  );
}

// ------------------------------------------------------------------------------------- one template

async function renderTemplate(view, ctx, id) {
  const { api } = ctx;
  /** The template as last read or written; sections update it after each save. */
  const state = { t: await api("GET", `/v2/templates/${id}`) };
  const reload = async () => {
    state.t = await api("GET", `/v2/templates/${id}`);
  };

  const tabs = [
    ["roles", "Roles"],
    ["recording", "Recording & HLS"],
    ["storage", "Destinations (storage)"],
  ];
  const sections = Object.fromEntries(
    tabs.map(([key]) => [key, el("section", { class: "tpl-section", "data-testid": `${key}-panel`, role: "tabpanel" })]),
  );
  const buttons = tabs.map(([key, label]) =>
    el("button", { type: "button", role: "tab", "data-testid": `tab-${key}`, "data-tab": key }, label),
  );
  const show = (key) => {
    lastTab.set(id, key);
    for (const b of buttons) b.setAttribute("aria-selected", String(b.dataset.tab === key));
    for (const [k, s] of Object.entries(sections)) s.hidden = k !== key;
  };
  for (const b of buttons) b.addEventListener("click", () => show(b.dataset.tab));

  const recording = recordingSection(sections.recording, state, ctx, id);
  const roles = rolesSection(sections.roles, state, ctx, id, reload, () => recording.syncRoles());
  const storage = storageSection(sections.storage, state, ctx, id);
  roles.render();
  recording.render();
  storage.render();

  view.replaceChildren(
    el(
      "div",
      { class: "tpl-page" },
      el("p", {}, el("a", { href: "#/templates", "data-testid": "back-to-templates" }, "← Templates")),
      el("h1", { "data-testid": "template-title" }, state.t.name),
      el(
        "p",
        { class: "muted" },
        "Id ",
        el("span", { class: "mono", "data-testid": "template-id" }, state.t.id),
        ` · created ${formatTime(state.t.createdAt)}`,
      ),
      el("div", { class: "tpl-tabs", role: "tablist" }, ...buttons),
      ...Object.values(sections),
    ),
  );
  show(lastTab.get(id) ?? "roles");
}
