// Webhooks: the app's endpoint (URL, custom headers, on/off; GET|POST /v2/webhooks/config), the
// delivery log (GET /v2/webhooks/deliveries?order=desc, newest first, filtered by type/state/room, "load more"),
// one delivery's attempts and payload (GET /v2/webhooks/deliveries/:id), and replay
// (POST /v2/webhooks/deliveries/replay {event_ids}), watched until the new attempt is recorded. The log
// updates itself every few seconds while the view is shown (new events on top, changed ones in place; the
// filter, the loaded pages, the selection and the open delivery stay), and "Send a test event"
// (POST /v2/webhooks/test) sends a webhook.test through the outbox and says how its delivery went. Rooms
// are shown by name (the id in the title); the event types and states come from GET /v2/webhooks/event-types.
// Header values come back from the API in the clear (they are sealed at rest); they are shown masked
// until asked for. A room's own webhook (rooms API) replaces this endpoint for that room's events.

import { newestPage, listAllRooms } from "../api.js";
import { badge, busy, copy, el, fill, formatTime, problem, table } from "../ui.js";

const MAX_HEADERS = 20; // MAX_CUSTOM_HEADERS in src/webhooks/webhook-config.ts
const PAGE_SIZES = [10, 25, 50, 100];
const REPLAY_WATCH_MS = 30_000;
/** How often the log is read again while the view is shown. */
const LIVE_MS = 2500;
const OBJECT_ID = /^[0-9a-f]{24}$/;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function render(view, { api, onLeave, showOk, showError }) {
  let left = false;
  let liveTimer = 0;
  const onVisible = () => {
    if (document.visibilityState === "visible") live(0);
  };
  onLeave(() => {
    left = true;
    clearTimeout(liveTimer);
    document.removeEventListener("visibilitychange", onVisible);
  });

  const [config, firstPage, firstRooms, kinds] = await Promise.all([
    api("GET", "/v2/webhooks/config"),
    newestPage("/v2/webhooks/deliveries", PAGE_SIZES[1]),
    listAllRooms().catch(() => []), // names for the log, and the "rooms with their own webhook" note
    api("GET", "/v2/webhooks/event-types"),
  ]);
  let rooms = firstRooms;
  const roomNames = new Map(rooms.map((r) => [r.id, r.name]));
  const EVENT_TYPES = kinds.event_types ?? [];
  const STATES = kinds.states ?? [];
  /** A room as the log shows it: its name, the id in the title (the id itself for a room not known here). */
  const roomLabel = (id, testid) =>
    !id
      ? el("span", { class: "muted", "data-testid": testid }, "–")
      : roomNames.has(id)
        ? el("span", { title: id, "data-testid": testid }, roomNames.get(id))
        : el("span", { class: "mono", title: "not a room of this tapedeck (or deleted)", "data-testid": testid }, id);

  const endpoint = el("form", { class: "panel", "data-testid": "webhook-config" });
  const logPanel = el("div", { class: "panel", "data-testid": "delivery-log" });
  const details = el("div", { class: "panel", "data-testid": "delivery-details", hidden: true });

  // ---------------------------------------------------------------- the endpoint

  function renderEndpoint(c) {
    const url = el("input", {
      id: "webhook-url",
      type: "url",
      "data-testid": "webhook-url",
      value: c.url ?? "",
      placeholder: "https://example.com/tapedeck-events",
      maxlength: 2048,
      autocomplete: "off",
    });
    const enabled = el("input", { type: "checkbox", "data-testid": "webhook-enabled", checked: c.url ? c.enabled : true });
    const rows = el("div", { class: "wh-headers", "data-testid": "webhook-headers" });
    const add = el("button", { type: "button", "data-testid": "add-header" }, "Add header");
    const syncAdd = () => {
      add.disabled = rows.children.length >= MAX_HEADERS;
    };
    const addRow = (name = "", value = "") => {
      const n = el("input", {
        "data-testid": "header-name",
        "aria-label": "Header name",
        placeholder: "e.g. X-Shared-Secret",
        value: name,
        maxlength: 128,
        autocomplete: "off",
      });
      const v = el("input", {
        "data-testid": "header-value",
        "aria-label": "Header value",
        type: "password",
        placeholder: "value",
        value,
        maxlength: 1024,
        autocomplete: "off",
      });
      const show = el("button", { type: "button", "data-testid": "header-show", "aria-pressed": "false" }, "Show");
      show.addEventListener("click", () => {
        const visible = v.type === "password";
        v.type = visible ? "text" : "password";
        show.textContent = visible ? "Hide" : "Show";
        show.setAttribute("aria-pressed", String(visible));
      });
      const remove = el("button", { type: "button", class: "danger", "data-testid": "header-remove" }, "Remove");
      const row = el("div", { class: "row wh-header", "data-testid": "header-row" }, n, v, show, remove);
      remove.addEventListener("click", () => {
        row.remove();
        syncAdd();
      });
      rows.append(row);
      syncAdd();
      return n;
    };
    for (const [k, v] of Object.entries(c.headers ?? {})) addRow(k, v);
    add.addEventListener("click", () => addRow().focus());
    syncAdd();

    const secret = c.signing_secret ?? "";
    const secretText = el("span", { class: "mono", "data-testid": "signing-secret" }, "•".repeat(12));
    const showSecret = el("button", { type: "button", "data-testid": "show-secret" }, "Show");
    showSecret.addEventListener("click", () => {
      const hidden = showSecret.textContent === "Show";
      secretText.textContent = hidden ? secret : "•".repeat(12);
      showSecret.textContent = hidden ? "Hide" : "Show";
    });
    const copySecret = el("button", { type: "button", "data-testid": "copy-secret" }, "Copy");
    copySecret.addEventListener("click", () => void copy(secret, "Signing secret"));

    const save = el("button", { type: "submit", class: "primary", "data-testid": "save-webhook" }, "Save");
    const remove = el("button", { type: "button", class: "danger", "data-testid": "remove-webhook", hidden: !c.url }, "Remove endpoint");
    remove.addEventListener(
      "click",
      () =>
        void busy(remove, "Removing…", async () => {
          renderEndpoint(await api("DELETE", "/v2/webhooks/config"));
          showOk("Webhook endpoint removed", ["new events are kept in the log (no_endpoint) and sent only if you replay them"]);
        }),
    );
    const overrides = rooms.filter((r) => r.webhook?.url);
    fill(
      endpoint,
      el("h2", {}, "Endpoint"),
      el(
        "p",
        { class: "muted", "data-testid": "webhook-state" },
        !c.url
          ? "No endpoint set: events are kept in the log (state no_endpoint) and sent only if you replay them."
          : c.enabled
            ? `Events are sent to ${c.url}.`
            : `Sending is off: new events are kept in the log (no_endpoint), not sent to ${c.url}.`,
      ),
      el("label", { for: "webhook-url" }, "URL (http:// or https://)"),
      url,
      el("label", { class: "check" }, enabled, "Send events to this URL"),
      el("label", {}, `Custom headers, sent with every request (up to ${MAX_HEADERS}; e.g. a shared secret your server checks)`),
      rows,
      el("div", { class: "row wh-actions" }, add, save, remove),
      el(
        "p",
        { class: "muted" },
        "The endpoint is chosen when an event is written: events already in the log keep theirs until you replay them. A room with its own webhook (set on the room through the rooms API) sends its events there instead.",
      ),
      overrides.length
        ? el(
            "div",
            { "data-testid": "room-overrides" },
            el(
              "p",
              {},
              `${overrides.length} room${overrides.length === 1 ? "" : "s"} use${overrides.length === 1 ? "s" : ""} ${overrides.length === 1 ? "its" : "their"} own webhook:`,
            ),
            el(
              "ul",
              { class: "wh-overrides" },
              ...overrides.map((r) =>
                el("li", { "data-id": r.id }, el("strong", {}, r.name), " → ", el("span", { class: "mono" }, r.webhook.url)),
              ),
            ),
          )
        : null,
      el("label", {}, "Signing secret (verify X-Tapedeck-Signature with it; see the README)"),
      el("div", { class: "row wh-secret" }, secretText, showSecret, copySecret),
    );
    endpoint.onsubmit = (e) => {
      e.preventDefault();
      void busy(save, "Saving…", async () => {
        const headers = {};
        const seen = new Map();
        for (const row of rows.querySelectorAll('[data-testid="header-row"]')) {
          const name = row.querySelector('[data-testid="header-name"]').value.trim();
          const value = row.querySelector('[data-testid="header-value"]').value;
          if (!name && !value) continue; // an empty row is ignored
          if (!name) throw problem("A header has a value but no name", ["give it a name, or remove the row"]);
          const key = name.toLowerCase();
          if (seen.has(key))
            throw problem(`Header ${name} is given twice`, [
              `header names are case-insensitive: ${seen.get(key)} and ${name} are the same header; remove one`,
            ]);
          seen.set(key, name);
          headers[name] = value;
        }
        const saved = await api("POST", "/v2/webhooks/config", { url: url.value.trim(), headers, enabled: enabled.checked });
        renderEndpoint(saved);
        const n = Object.keys(saved.headers ?? {}).length;
        showOk("Webhook endpoint saved", [
          saved.enabled ? `new events go to ${saved.url}` : "sending is off: new events are logged, not sent",
          `${n} custom header${n === 1 ? "" : "s"}`,
        ]);
      });
    };
  }

  // ---------------------------------------------------------------- the delivery log

  /** @type {Array<Record<string, any>>} */
  let entries = firstPage.data ?? [];
  let last = firstPage.last ?? "";
  let filter = { type: "", state: "", room_id: "", limit: PAGE_SIZES[1] };
  const selected = new Set();
  /** Events whose replay is being watched: their row's Replay button says so. */
  const replaying = new Set();
  let openId = null;

  const typeSel = el(
    "select",
    { id: "filter-type", "data-testid": "filter-type" },
    el("option", { value: "" }, "All events"),
    ...EVENT_TYPES.map((t) => el("option", { value: t }, t)),
  );
  const stateSel = el(
    "select",
    { id: "filter-state", "data-testid": "filter-state" },
    el("option", { value: "" }, "Any state"),
    ...STATES.map((s) => el("option", { value: s }, s)),
  );
  const roomIn = el("select", { id: "filter-room", "data-testid": "filter-room" });
  /** The room filter's options: any room, then every room by name; the value picked is kept. */
  const fillRooms = () => {
    const current = roomIn.value || filter.room_id;
    const byName = [...rooms].sort((a, b) => a.name.localeCompare(b.name));
    fill(
      roomIn,
      el("option", { value: "" }, "Any room"),
      ...byName.map((r) => el("option", { value: r.id, title: r.id }, r.name)),
      current && !roomNames.has(current) ? el("option", { value: current }, current) : null,
    );
    roomIn.value = current;
  };
  const sizeSel = el(
    "select",
    { id: "filter-limit", "data-testid": "filter-limit" },
    ...PAGE_SIZES.map((n) => el("option", { value: n, selected: n === filter.limit }, String(n))),
  );
  const apply = el("button", { type: "submit", class: "primary", "data-testid": "apply-filter" }, "Show");
  const filters = el(
    "form",
    { class: "row wh-filters" },
    el("div", {}, el("label", { for: "filter-type" }, "Event"), typeSel),
    el("div", {}, el("label", { for: "filter-state" }, "State"), stateSel),
    el("div", {}, el("label", { for: "filter-room" }, "Room"), roomIn),
    el("div", { class: "wh-narrow" }, el("label", { for: "filter-limit" }, "Per page"), sizeSel),
    apply,
  );
  const tableHost = el("div", { class: "wh-table", "data-testid": "delivery-table" });
  const more = el("button", { type: "button", "data-testid": "load-more" }, "Load more");
  const refresh = el("button", { type: "button", "data-testid": "refresh-log" }, "Refresh");
  const replaySelected = el("button", { type: "button", "data-testid": "replay-selected" }, "Replay selected");
  const sendTest = el(
    "button",
    { type: "button", "data-testid": "send-test-event", title: "Send a webhook.test event to the endpoint now, signed like every event" },
    "Send a test event",
  );
  const count = el("span", { class: "muted", "data-testid": "log-count" });

  /** A page of the log under the current filters (the empty ones left out), newest first. */
  const logPage = (start) => {
    const { limit, ...rest } = filter;
    return newestPage("/v2/webhooks/deliveries", limit, start, Object.fromEntries(Object.entries(rest).filter(([, v]) => v)));
  };

  const upsert = (entry) => {
    const i = entries.findIndex((x) => x.id === entry.id);
    if (i >= 0) entries[i] = { ...entries[i], ...entry };
  };

  function renderLog() {
    const rows = entries.map((d) => {
      const pick = el("input", {
        type: "checkbox",
        "data-testid": "select-delivery",
        "aria-label": `Select ${d.type}`,
        checked: selected.has(d.id),
      });
      pick.addEventListener("change", () => {
        if (pick.checked) selected.add(d.id);
        else selected.delete(d.id);
        syncSelection();
      });
      const open = el("button", { type: "button", "data-testid": "open-delivery" }, "Details");
      open.addEventListener("click", () => void busy(open, "Opening…", () => showDetails(d.id, true)));
      const replay = el(
        "button",
        { type: "button", "data-testid": "replay-delivery", disabled: replaying.has(d.id) },
        replaying.has(d.id) ? "Replaying…" : "Replay",
      );
      replay.addEventListener("click", () => void busy(replay, "Replaying…", () => replayEvents([d.id])));
      const when =
        d.state === "delivered"
          ? `delivered ${formatTime(d.delivered_at)}`
          : d.next_attempt_at
            ? `next try ${formatTime(d.next_attempt_at)}`
            : "";
      return [
        pick,
        el("span", { "data-testid": "delivery-type" }, d.type),
        el("span", { "data-testid": "delivery-time" }, formatTime(d.created_at)),
        el("span", {}, badge(d.state), when ? el("span", { class: "muted wh-when" }, when) : null),
        el("span", { "data-testid": "delivery-http" }, d.last_status === null || d.last_status === undefined ? "–" : String(d.last_status)),
        el("span", { "data-testid": "delivery-attempts" }, String(d.attempts)),
        el("span", { "data-testid": "delivery-error", class: d.last_error ? "wh-error" : "muted" }, d.last_error ?? "–"),
        roomLabel(d.room_id, "delivery-room"),
        el("div", { class: "row wh-row-actions" }, open, replay),
      ];
    });
    tableHost.replaceChildren(
      table(["Select", "Event", "Time", "State", "HTTP", "Attempts", "Error", "Room", "Actions"], rows, {
        testid: "deliveries",
        rowIds: entries.map((d) => d.id),
        empty:
          filter.type || filter.state || filter.room_id
            ? "No deliveries match these filters."
            : "No events yet: they appear here as rooms are used.",
      }),
    );
    more.hidden = !last;
    count.textContent = `${entries.length} shown, newest first${last ? "; older ones below Load more" : ""}`;
    syncSelection();
  }

  function syncSelection() {
    for (const id of [...selected]) if (!entries.some((x) => x.id === id)) selected.delete(id);
    replaySelected.disabled = selected.size === 0;
    replaySelected.textContent = selected.size ? `Replay selected (${selected.size})` : "Replay selected";
  }

  async function loadFirst() {
    const page = await logPage("");
    entries = page.data ?? [];
    last = page.last ?? "";
    renderLog();
  }

  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    filter = { type: typeSel.value, state: stateSel.value, room_id: roomIn.value.trim(), limit: Number(sizeSel.value) };
    void busy(apply, "Loading…", loadFirst);
  });
  refresh.addEventListener("click", () => void busy(refresh, "Refreshing…", loadFirst));
  more.addEventListener(
    "click",
    () =>
      void busy(more, "Loading…", async () => {
        const page = await logPage(last);
        const known = new Set(entries.map((x) => x.id));
        entries.push(...(page.data ?? []).filter((x) => !known.has(x.id)));
        last = page.last ?? "";
        renderLog();
      }),
  );
  replaySelected.addEventListener("click", () => void busy(replaySelected, "Replaying…", () => replayEvents([...selected])));

  // ---------------------------------------------------------------- live updates

  const SHOWN = ["state", "attempts", "last_status", "last_error", "next_attempt_at", "delivered_at", "url"];
  const differs = (a, b) => SHOWN.some((k) => (a[k] ?? null) !== (b[k] ?? null));
  const newestFirst = (a, b) => (a.created_at === b.created_at ? (a.id < b.id ? 1 : -1) : a.created_at < b.created_at ? 1 : -1);
  const roomsAsked = new Set();

  /** Reads the newest page under the current filter and merges it: new events on top, changed ones in place. */
  async function mergeNewest() {
    const asked = filter;
    const page = await logPage("");
    if (left || asked !== filter) return; // the filter changed meanwhile: its own load shows it
    const fresh = page.data ?? [];
    const known = new Map(entries.map((x) => [x.id, x]));
    const added = fresh.filter((x) => !known.has(x.id));
    let changed = false;
    if (added.length === fresh.length && fresh.length >= filter.limit && entries.length) {
      // More new events than a page: the newest page, with Load more for the rest.
      entries = fresh;
      last = page.last ?? "";
      changed = true;
    } else {
      for (const x of fresh) {
        const old = known.get(x.id);
        if (old && differs(old, x)) {
          upsert(x);
          changed = true;
        }
      }
      if (added.length) {
        entries = [...added, ...entries].sort(newestFirst);
        changed = true;
      }
    }
    const unnamed = [...new Set(added.map((x) => x.room_id))].filter(
      (id) => id && OBJECT_ID.test(id) && !roomNames.has(id) && !roomsAsked.has(id),
    );
    if (unnamed.length) {
      for (const id of unnamed) roomsAsked.add(id);
      rooms = await listAllRooms().catch(() => rooms);
      for (const r of rooms) roomNames.set(r.id, r.name);
      fillRooms();
      changed = true;
    }
    if (left || !changed) return;
    renderLog();
    const open = openId && fresh.find((x) => x.id === openId);
    if (open && differs(known.get(openId) ?? {}, open)) await showDetails(openId, false);
  }

  /** Reads the log again in `ms`, and then every LIVE_MS while the view is shown (not while the tab is hidden). */
  function live(ms = LIVE_MS) {
    clearTimeout(liveTimer);
    liveTimer = setTimeout(async () => {
      if (left || document.visibilityState !== "visible") return;
      try {
        await mergeNewest();
      } catch {
        /* a failed read is tried again at the next tick; Refresh shows the error */
      }
      if (!left) live();
    }, ms);
  }
  document.addEventListener("visibilitychange", onVisible);

  // ---------------------------------------------------------------- a test event

  /** Waits until each event's next attempt is recorded (`stillWaiting` says when not), or REPLAY_WATCH_MS. */
  async function watch(ids, stillWaiting) {
    const waiting = new Set(ids);
    const done = [];
    const deadline = Date.now() + REPLAY_WATCH_MS;
    while (waiting.size && Date.now() < deadline && !left) {
      await sleep(300);
      for (const id of [...waiting]) {
        const d = await api("GET", `/v2/webhooks/deliveries/${encodeURIComponent(id)}`);
        if (entries.some((x) => x.id === id)) upsert(d);
        if (!stillWaiting(d)) {
          waiting.delete(id);
          done.push(d);
        }
      }
      renderLog();
    }
    return { done, waiting };
  }

  sendTest.addEventListener(
    "click",
    () =>
      void busy(sendTest, "Sending…", async () => {
        const sent = await api("POST", "/v2/webhooks/test", {});
        await mergeNewest();
        const { done } = await watch([sent.id], (d) => d.state === "pending" && d.attempts === 0);
        if (left) return;
        const d = done[0];
        if (!d) showOk("Test event queued", [`it goes to ${sent.url}; its row in the log shows the result`]);
        else if (d.state === "delivered") showOk("Test event delivered", [`${d.url} answered HTTP ${d.last_status}`, `event ${d.id}`]);
        else
          showError(
            problem("Test event not delivered", [
              `${d.url}: ${d.last_error ?? d.state}`,
              d.next_attempt_at ? `tried again ${formatTime(d.next_attempt_at)}` : "not tried again",
            ]),
          );
      }),
  );

  // ---------------------------------------------------------------- one delivery

  async function showDetails(id, scroll) {
    const d = await api("GET", `/v2/webhooks/deliveries/${encodeURIComponent(id)}`);
    if (left) return;
    upsert(d);
    renderLog();
    openId = id;
    const replay = el("button", { type: "button", class: "primary", "data-testid": "details-replay" }, "Replay");
    replay.addEventListener("click", () => void busy(replay, "Replaying…", () => replayEvents([id])));
    const close = el("button", { type: "button", "data-testid": "details-close" }, "Close");
    close.addEventListener("click", () => {
      openId = null;
      details.hidden = true;
    });
    const payload = JSON.stringify(d.envelope, null, 2);
    const copyPayload = el("button", { type: "button", "data-testid": "copy-payload" }, "Copy payload");
    copyPayload.addEventListener("click", () => void copy(payload, "Payload"));
    const fact = (label, value, testid) => [el("dt", {}, label), el("dd", { "data-testid": testid }, value)];
    const attempts = (d.attempt_log ?? []).map((a) => [
      el("span", {}, String(a.attempt), a.replay ? el("span", { class: "badge wh-replay" }, "replay") : null),
      formatTime(a.started_at),
      el("span", { "data-testid": "attempt-status" }, a.status_code === null ? "–" : String(a.status_code)),
      `${a.duration_ms} ms`,
      el("span", { "data-testid": "attempt-error", class: a.error ? "wh-error" : "muted" }, a.error ?? "ok"),
      el("span", { class: "mono", "data-testid": "attempt-response" }, a.response_excerpt ?? "–"),
      el("span", { class: "mono" }, a.url),
    ]);
    fill(
      details,
      el("div", { class: "row wh-details-head" }, el("h2", {}, `Delivery: ${d.type}`), replay, copyPayload, close),
      el(
        "dl",
        { class: "wh-facts" },
        fact("Event id", el("span", { class: "mono" }, d.id), "details-id"),
        fact("State", badge(d.state), "details-state"),
        fact("Written", formatTime(d.created_at), "details-created"),
        d.delivered_at ? fact("Delivered", formatTime(d.delivered_at), "details-delivered") : null,
        d.next_attempt_at ? fact("Next try", formatTime(d.next_attempt_at), "details-next") : null,
        fact("Endpoint", el("span", { class: "mono" }, d.url ?? "none (no endpoint when it was written)"), "details-url"),
        fact(
          "Room",
          el(
            "span",
            {},
            roomLabel(d.room_id, null),
            d.room_id && roomNames.has(d.room_id) ? el("span", { class: "mono muted" }, ` ${d.room_id}`) : null,
          ),
          "details-room",
        ),
        fact("Attempts", String(d.attempts), "details-attempts"),
      ),
      el("h2", {}, "Attempts"),
      table(["#", "Started", "HTTP", "Took", "Error", "Response", "URL"], attempts, { testid: "attempts", empty: "Not attempted yet." }),
      el("h2", {}, "Payload"),
      el("pre", { class: "wh-payload mono", "data-testid": "payload" }, payload),
    );
    details.hidden = false;
    if (scroll) details.scrollIntoView({ block: "start" });
  }

  // ---------------------------------------------------------------- replay

  /** Queues the events again, then watches them until the new attempt is recorded, and says how it went. */
  async function replayEvents(ids) {
    if (!ids.length) return;
    for (const id of ids) replaying.add(id);
    try {
      await replayAndWatch(ids);
    } finally {
      for (const id of ids) replaying.delete(id);
      if (!left) renderLog();
    }
  }

  async function replayAndWatch(ids) {
    const res = await api("POST", "/v2/webhooks/deliveries/replay", { event_ids: ids });
    for (const q of res.data ?? []) upsert({ id: q.id, state: q.state, url: q.url });
    renderLog();
    const { done, waiting } = await watch(ids, (d) => d.state === "replaying");
    if (left) return;
    if (openId && ids.includes(openId)) await showDetails(openId, false);
    const ok = done.filter((d) => d.state === "delivered");
    const bad = done.filter((d) => d.state !== "delivered");
    const lines = [
      ...ok.map((d) => `${d.type}: delivered, ${d.url} answered HTTP ${d.last_status}`),
      ...bad.map((d) => `${d.type}: ${d.last_error ?? d.state}${d.next_attempt_at ? `; next try ${formatTime(d.next_attempt_at)}` : ""}`),
      ...[...waiting].map((id) => `${id}: still queued; refresh the log later`),
    ];
    const what = ids.length === 1 ? (done[0]?.type ?? "the event") : `${ids.length} events`;
    if (bad.length) showError(problem(`Replay of ${what} failed${ok.length ? ` for ${bad.length} of ${ids.length}` : ""}`, lines));
    else if (waiting.size) showOk(`Replay of ${what} queued`, lines);
    else showOk(`Replayed ${what}: delivered`, lines);
  }

  renderEndpoint(config);
  logPanel.replaceChildren(
    el(
      "div",
      { class: "row wh-log-head" },
      el("h2", {}, "Delivery log"),
      el("span", { class: "muted wh-live", "data-testid": "log-live" }, "updates live"),
      refresh,
      replaySelected,
      sendTest,
    ),
    filters,
    count,
    tableHost,
    el("div", { class: "row wh-more" }, more),
  );
  fillRooms();
  renderLog();
  view.replaceChildren(el("div", { class: "wh-page" }, el("h1", {}, "Webhooks"), endpoint, logPanel, details));
  live();
}
