// The template page's Roles tab: what each role may publish, whom it sees, its permissions; add and delete roles.

import { busy, el, problem } from "../ui.js";
import { checkbox, clone, confirmButton, enc, field } from "./template-form.js";

const TRACKS = [
  ["audio", "Audio"],
  ["video", "Video"],
  ["screen", "Screen share"],
];
// As src/templates/default-roles.ts (ALL_PERMISSIONS); keys a role already has are shown too.
const PERMISSIONS = [
  ["browserRecording", "Start/stop browser recording"],
  ["hlsStreaming", "Start/stop HLS streaming"],
  ["rtmpStreaming", "Start/stop RTMP streaming"],
  ["endRoom", "End the room"],
  ["removeOthers", "Remove other peers"],
  ["mute", "Mute others"],
  ["unmute", "Ask others to unmute"],
  ["changeRole", "Change others' roles"],
  ["pollRead", "See polls"],
  ["pollWrite", "Create polls"],
];

export function rolesSection(section, state, { api, showOk }, id, reload, onRolesChanged) {
  function rolePanel(name, initial, allNames) {
    let role = initial;
    const allowed = new Set(role.publishParams?.allowed ?? []);
    const subs = new Set(role.subscribeParams?.subscribeToRoles ?? []);
    const perms = role.permissions ?? {};
    const publish = TRACKS.map(([k, label]) => ({ k, ...checkbox(label, allowed.has(k), { "data-testid": `publish-${k}` }) }));
    const subscribe = allNames.map((r) => ({ k: r, ...checkbox(r, subs.has(r), { "data-testid": "subscribe", "data-role": r }) }));
    const permKeys = [
      ...PERMISSIONS,
      ...Object.keys(perms)
        .filter((k) => !PERMISSIONS.some(([p]) => p === k))
        .map((k) => [k, k]),
    ];
    const permissions = permKeys.map(([k, label]) => ({ k, ...checkbox(label, perms[k] === true, { "data-testid": `perm-${k}` }) }));

    const save = el("button", { type: "submit", class: "primary", "data-testid": "role-save" }, "Save role");
    const remove = confirmButton({
      label: "Delete role",
      question: `Delete role ${name}?`,
      text: "Join links and app tokens for this role stop working; people already in a room with it stay until they leave.",
      testid: "role-delete",
      busyText: "Deleting…",
      action: async () => {
        await api("DELETE", `/v2/templates/${id}/roles/${enc(name)}`);
        showOk(`Role ${name} deleted`);
        await reload();
        render();
        onRolesChanged();
      },
    });
    const form = el(
      "form",
      { novalidate: true, class: "panel tpl-role", "data-testid": "role", "data-role": name },
      el("h2", {}, name),
      el("fieldset", {}, el("legend", {}, "May publish"), el("div", { class: "tpl-checks" }, ...publish.map((c) => c.node))),
      el("fieldset", {}, el("legend", {}, "Sees (subscribes to)"), el("div", { class: "tpl-checks" }, ...subscribe.map((c) => c.node))),
      el("fieldset", {}, el("legend", {}, "Permissions"), el("div", { class: "tpl-checks" }, ...permissions.map((c) => c.node))),
      el("div", { class: "row tpl-actions" }, save, remove),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void busy(save, "Saving…", async () => {
        const body = clone(role);
        body.publishParams = { ...clone(role.publishParams), allowed: publish.filter((c) => c.box.checked).map((c) => c.k) };
        body.subscribeParams = { ...clone(role.subscribeParams), subscribeToRoles: subscribe.filter((c) => c.box.checked).map((c) => c.k) };
        body.permissions = { ...clone(role.permissions), ...Object.fromEntries(permissions.map((c) => [c.k, c.box.checked])) };
        role = await api("POST", `/v2/templates/${id}/roles/${enc(name)}`, body);
        state.t.roles[name] = role;
        const granted = Object.entries(role.permissions ?? {})
          .filter(([, v]) => v)
          .map(([k]) => k);
        showOk(`Role ${name} saved`, [
          `publishes: ${(role.publishParams?.allowed ?? []).join(", ") || "nothing"}`,
          `sees: ${(role.subscribeParams?.subscribeToRoles ?? []).join(", ") || "nobody"}`,
          `permissions: ${granted.join(", ") || "none"}`,
        ]);
      });
    });
    return form;
  }

  function addRoleForm(allNames) {
    const name = el("input", { "data-testid": "new-role-name", placeholder: "e.g. viewer", maxlength: 100, autocomplete: "off" });
    const add = el("button", { type: "submit", "data-testid": "add-role" }, "Add role");
    const form = el(
      "form",
      { novalidate: true, class: "panel" },
      el("h2", {}, "Add a role"),
      el("div", { class: "row" }, field("Name (letters, digits, . - : _)", name), add),
      el(
        "p",
        { class: "muted" },
        "It may publish audio, video and screen, sees every role, and has no permissions until you give it some.",
      ),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      void busy(add, "Adding…", async () => {
        const wanted = name.value.trim();
        if (!wanted) throw problem("Give the role a name");
        if (allNames.includes(wanted))
          throw problem(`Role ${wanted} already exists`, ["saving it here would replace it: edit it above instead"]);
        await api("POST", `/v2/templates/${id}/roles/${enc(wanted)}`, {
          publishParams: { allowed: TRACKS.map(([k]) => k) },
          subscribeParams: { subscribeToRoles: [...allNames, wanted] },
          permissions: Object.fromEntries(PERMISSIONS.map(([k]) => [k, false])),
        });
        showOk(`Role ${wanted} added`, ['other roles do not see it until you tick it under their "Sees"']);
        await reload();
        render();
        onRolesChanged();
      });
    });
    return form;
  }

  function render() {
    const names = Object.keys(state.t.roles ?? {});
    section.replaceChildren(
      el(
        "p",
        { class: "muted" },
        "Each peer joins with one role. A role can be deleted only when no other role, recording config or destination refers to it.",
      ),
      ...(names.length
        ? names.map((n) => rolePanel(n, state.t.roles[n], names))
        : [el("p", { class: "muted", "data-testid": "roles-empty" }, "No roles: add one below.")]),
      addRoleForm(names),
    );
  }
  return { render };
}
