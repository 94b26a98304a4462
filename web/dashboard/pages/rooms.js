// Rooms: the list, a new room (name, template), enable or disable (Disable asks first: it ends the room
// for the people in it), and joining: a join link for a role of the room's template (an app token
// minted by POST /v2/rooms/:id/tokens), opened or copied, with when it expires.

import { listAll, listAllRooms } from "../api.js";
import { badge, busy, confirmAction, copy, el, formatTime, table } from "../ui.js";

/** "expires 12/8/2026, 9:30:00 AM (in 24 h)": when a join link stops working, in local time. */
export function expiresText(iso, now = Date.now()) {
  const ms = Date.parse(iso) - now;
  const hours = ms / 3_600_000;
  const inText =
    hours >= 48 ? `${Math.round(hours / 24)} days` : hours >= 1 ? `${Math.round(hours)} h` : `${Math.max(1, Math.round(ms / 60_000))} min`;
  return `expires ${new Date(iso).toLocaleString()} (in ${inText})`;
}

/** How many people are in the room now (its active session's peers, by the API's `people`), or null if unknown. */
async function peopleIn(api, roomId) {
  try {
    const page = await api("GET", `/v2/sessions?room_id=${roomId}&active=true&limit=1`);
    const s = page.data?.[0];
    return s ? (s.people ?? Object.values(s.peers ?? {}).filter((p) => !p.left_at).length) : 0;
  } catch {
    return null;
  }
}

export async function render(view, { api, refresh, showOk }) {
  const [rooms, templates] = await Promise.all([listAllRooms(), listAll("/v2/templates")]);
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
    const mint = () => api("POST", `/v2/rooms/${r.id}/tokens`, { role: role.value });
    const open = el("button", { type: "button", "data-testid": "open-room" }, "Open");
    open.addEventListener(
      "click",
      () => void busy(open, "Opening…", async () => window.open((await mint()).join_url, "_blank", "noopener")),
    );
    const copyLink = el("button", { type: "button", "data-testid": "copy-link" }, "Copy join link");
    const expiry = el("span", { class: "muted link-expiry", "data-testid": "link-expiry" });
    copyLink.addEventListener(
      "click",
      () =>
        void busy(copyLink, "Copying…", async () => {
          const { join_url: url, expires_at: expiresAt } = await mint();
          copyLink.dataset.url = url;
          const expires = expiresText(expiresAt);
          expiry.textContent = expires;
          expiry.title = `The join link stops working at ${new Date(expiresAt).toLocaleString()}`;
          await copy(url, "Join link", [expires]);
        }),
    );
    const toggle = el(
      "button",
      { type: "button", class: r.enabled ? "danger" : "", "data-testid": "toggle-room" },
      r.enabled ? "Disable" : "Enable",
    );
    toggle.addEventListener("click", async () => {
      if (r.enabled) {
        const people = await peopleIn(api, r.id);
        const who =
          people === null
            ? "Everyone in it is removed"
            : people === 0
              ? "Nobody is in it now"
              : `The ${people} ${people === 1 ? "person" : "people"} in it ${people === 1 ? "is" : "are"} removed`;
        const sure = await confirmAction({
          title: `Disable ${r.name}?`,
          text: [
            `${who}${people === 0 ? "" : " at once, and its recordings and live streams stop"}.`,
            "Nobody can join until you enable it again; join links show “This room is closed”.",
          ],
          confirmLabel: "Disable room",
        });
        if (!sure) return;
      }
      await busy(toggle, "Saving…", async () => {
        await api("POST", `/v2/rooms/${r.id}`, { enabled: !r.enabled });
        showOk(`Room ${r.name} ${r.enabled ? "disabled: the people in it were removed and new joins are refused" : "enabled"}`);
        await refresh();
      });
    });
    return [
      el("span", { "data-testid": "room-name-cell" }, r.name),
      el("span", { class: "mono" }, r.id),
      badge(r.enabled ? "enabled" : "disabled"),
      templateName.get(r.template_id) ?? r.template_id,
      formatTime(r.created_at),
      el("div", { class: "row" }, role, open, copyLink, toggle, expiry),
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
