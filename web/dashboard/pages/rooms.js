// Rooms: the list, a new room (name, template), enable or disable, and joining: a join link for a role
// of the room's template (an app token minted by POST /v2/rooms/:id/tokens), opened or copied.

import { listAll } from "../api.js";
import { badge, busy, copy, el, formatTime, table } from "../ui.js";

export async function render(view, { api, refresh, showOk }) {
  const [rooms, templates] = await Promise.all([listAll("/v2/rooms"), listAll("/v2/templates")]);
  const templateName = new Map(templates.map((t) => [t.id, t.name]));
  const roleNames = new Map(templates.map((t) => [t.id, Object.keys(t.roles ?? {})]));

  const name = el("input", { id: "room-name", "data-testid": "room-name", placeholder: "e.g. weekly-sales-call", maxlength: 100 });
  const template = el(
    "select",
    { id: "room-template", "data-testid": "room-template" },
    ...templates.map((t) => el("option", { value: t.id, selected: t.name === "default" }, t.name)),
  );
  const create = el("button", { type: "submit", class: "primary", "data-testid": "create-room" }, "Create room");
  const form = el(
    "form",
    { class: "panel" },
    el("h2", {}, "New room"),
    el(
      "div",
      { class: "row" },
      el("div", {}, el("label", { for: "room-name" }, "Name (letters, digits, . - : _)"), name),
      el("div", {}, el("label", { for: "room-template" }, "Template"), template),
      create,
    ),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void busy(create, "Creating…", async () => {
      const room = await api("POST", "/v2/rooms", {
        ...(name.value.trim() ? { name: name.value.trim() } : {}),
        template_id: template.value,
      });
      showOk(`Room ${room.name} is ready`);
      await refresh();
    });
  });

  const rows = rooms.map((r) => {
    const roles = roleNames.get(r.template_id) ?? [];
    const role = el(
      "select",
      { "data-testid": "join-role", "aria-label": "Join as role" },
      ...roles.map((x) => el("option", { value: x }, x)),
    );
    // No name and no skip_preview: whoever opens the link sees the preview and types their own name.
    const link = async () => (await api("POST", `/v2/rooms/${r.id}/tokens`, { role: role.value })).join_url;
    const open = el("button", { type: "button", "data-testid": "open-room" }, "Open");
    open.addEventListener("click", () => void busy(open, "Opening…", async () => window.open(await link(), "_blank", "noopener")));
    const copyLink = el("button", { type: "button", "data-testid": "copy-link" }, "Copy join link");
    copyLink.addEventListener(
      "click",
      () =>
        void busy(copyLink, "Copying…", async () => {
          const url = await link();
          copyLink.dataset.url = url;
          await copy(url, "Join link");
        }),
    );
    const toggle = el(
      "button",
      { type: "button", class: r.enabled ? "danger" : "", "data-testid": "toggle-room" },
      r.enabled ? "Disable" : "Enable",
    );
    toggle.addEventListener(
      "click",
      () =>
        void busy(toggle, "Saving…", async () => {
          await api("POST", `/v2/rooms/${r.id}`, { enabled: !r.enabled });
          showOk(`Room ${r.name} ${r.enabled ? "disabled: peers in it are removed and new joins refused" : "enabled"}`);
          await refresh();
        }),
    );
    return [
      el("span", { "data-testid": "room-name-cell" }, r.name),
      el("span", { class: "mono" }, r.id),
      badge(r.enabled ? "enabled" : "disabled"),
      templateName.get(r.template_id) ?? r.template_id,
      formatTime(r.created_at),
      el("div", { class: "row" }, role, open, copyLink, toggle),
    ];
  });

  view.replaceChildren(
    el("h1", {}, "Rooms"),
    form,
    el(
      "div",
      { class: "panel" },
      table(["Name", "Id", "State", "Template", "Created", ""], rows, {
        testid: "rooms",
        rowIds: rooms.map((r) => r.id),
        empty: "No rooms yet: create one above.",
      }),
    ),
  );
}
