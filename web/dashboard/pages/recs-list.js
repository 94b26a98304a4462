// The Recordings & live page's list machinery, shared by its three lists (browser recordings, live
// streams, external streams): a list newest first, updated in place, with older pages on demand and an
// ended item's details (its files); and the cells its rows are made of (who, status with the starting
// steps, details with the files), a row's buttons, and redrawing only what changed.

import { newestPage } from "../api.js";
import { badge, busy, el, formatBytes, formatDuration, formatTime } from "../ui.js";
import { assetLinkButton } from "./live-player.js";

export const ACTIVE = new Set(["starting", "running", "stopping", "post_processing"]);
export const ENDED = new Set(["completed", "failed"]);
export const CONTROLLABLE = new Set(["starting", "running"]);
export const RESOLUTIONS = [
  ["", "Template default (else 1280x720)"],
  ["1280x720", "1280x720 landscape"],
  ["1920x1080", "1920x1080 landscape"],
  ["720x1280", "720x1280 portrait"],
];
export const PAGE_SIZE = 25;
/** What a starting recorder is doing, by the API's `progress.step` (src/recorders/browser/capture-progress.ts). */
const STEP_LABELS = {
  waiting_for_recorder: "Waiting for a recorder",
  launching_browser: "Launching the recorder (Chromium)",
  loading_page: "Loading the room page",
  joining_room: "Joining the room",
  starting_capture: "Capturing the first frame",
  first_segment: "Encoding the first segment",
};

/** A resolution picker's value ("1280x720", "" for the default) as the API's `resolution`, or undefined. */
export function pickedResolution(value) {
  if (!value) return undefined;
  const [width, height] = value.split("x").map(Number);
  return { width, height };
}

/**
 * A list of `path`'s items, newest first, updated in place: `row(x)` makes an item's `{tr, apply}`,
 * and `apply(x, detail)` redraws it (`detail`: the single object, with its assets, once it has ended).
 */
export function makeList({ api, path, first, testid, headers, empty, row }) {
  const known = new Map(first.data.map((x) => [x.id, x]));
  /** Where the next older page starts ("" once the oldest is shown). */
  let older = first.last;
  const details = new Map(); // id → the single object (with its assets), once it has ended
  const rows = new Map();
  const tbody = el("tbody");
  const tableEl = el("table", { "data-testid": testid }, el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h)))), tbody);
  const emptyEl = el("p", { class: "muted", "data-testid": `${testid}-empty` }, empty);
  const more = el("button", { type: "button", "data-testid": `${testid}-more` }, "Show older");
  more.addEventListener(
    "click",
    () =>
      void busy(more, "Loading…", async () => {
        const page = await newestPage(path, PAGE_SIZE, older);
        for (const x of page.data) known.set(x.id, x);
        older = page.last;
        await fetchDetails();
        draw();
      }),
  );
  const visible = () => [...known.values()].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));

  async function fetchDetails() {
    const need = visible().filter((x) => ENDED.has(x.status) && !details.has(x.id));
    await Promise.all(
      need.map(async (x) => {
        try {
          details.set(x.id, await api("GET", `${path}/${x.id}`));
        } catch (err) {
          details.set(x.id, { fetch_error: err.message });
        }
      }),
    );
  }

  function draw() {
    const list = visible();
    emptyEl.hidden = list.length > 0;
    tableEl.hidden = list.length === 0;
    more.hidden = !older;
    const trs = list.map((x) => {
      let r = rows.get(x.id);
      if (!r) rows.set(x.id, (r = row(x)));
      r.apply(x, details.get(x.id));
      return r.tr;
    });
    const same = trs.length === tbody.children.length && trs.every((tr, i) => tbody.children[i] === tr);
    if (!same) tbody.replaceChildren(...trs);
  }

  return {
    node: el("div", {}, tableEl, emptyEl, el("div", { class: "row recs-more" }, more)),
    active: () => [...known.values()].some((x) => ACTIVE.has(x.status)),
    starting: () => [...known.values()].some((x) => x.status === "starting"),
    draw,
    async load() {
      // New ones are among the newest; an unfinished one further down is read by itself.
      const page = await newestPage(path, PAGE_SIZE);
      const fresh = new Set(page.data.map((x) => x.id));
      const stale = [...known.values()].filter((x) => ACTIVE.has(x.status) && !fresh.has(x.id));
      const reread = await Promise.all(stale.map((x) => api("GET", `${path}/${x.id}`)));
      for (const x of [...page.data, ...reread]) known.set(x.id, x);
      await fetchDetails();
      draw();
    },
    init: async () => {
      await fetchDetails();
      draw();
    },
  };
}

// ---- Rows ----
/** A button whose availability follows the row's state, and that stays disabled while its request runs. */
export function action(text, testid, cls = "") {
  const b = el("button", { type: "button", "data-testid": testid, class: cls || null }, text);
  b.inFlight = false;
  b.run = (busyText, work, after) => {
    b.inFlight = true;
    void busy(b, busyText, work).finally(() => {
      b.inFlight = false;
      after();
    });
  };
  b.set = (label, ok, why) => {
    if (!b.inFlight) {
      b.textContent = label;
      b.disabled = !ok;
    }
    b.title = ok ? "" : why;
  };
  return b;
}

/** The row's first cell: its room (by name when known), its id, and when it was `what`. */
export const header = (x, what, roomName) =>
  el(
    "div",
    {},
    el("strong", {}, roomName.get(x.room_id) ?? x.room_id),
    el("div", { class: "mono muted" }, x.id),
    el("div", { class: "muted" }, `${what} ${formatTime(x.created_at)}`),
  );

/** While starting: the steps passed (with how long each took) and the current one (with how long so far). */
function progressList(x) {
  const steps = x.status === "starting" ? (x.progress?.steps ?? []) : [];
  if (!steps.length) return null;
  const secs = (from, to) => `${Math.max(0, (to - Date.parse(from)) / 1000).toFixed(1)} s`;
  return el(
    "ol",
    { class: "recs-steps", "data-testid": "progress", "aria-label": "Starting" },
    ...steps.map((s, i) => {
      const next = steps[i + 1];
      const current = !next;
      return el(
        "li",
        { "data-step": s.step, class: current ? "current" : "done", "data-testid": "progress-step" },
        el("span", { class: "recs-step-mark", "aria-hidden": "true" }, current ? "…" : "✓"),
        ` ${STEP_LABELS[s.step] ?? s.step.replaceAll("_", " ")} `,
        el("span", { class: "muted" }, current ? secs(s.since, Date.now()) : secs(s.since, Date.parse(next.since))),
      );
    }),
  );
}

/** The status badge (and a paused one), how long it ran, and the starting steps. */
export function statusCell(x, pausedFlag, pausedText) {
  const took = x.started_at
    ? formatDuration(((x.stopped_at ? Date.parse(x.stopped_at) : Date.now()) - Date.parse(x.started_at)) / 1000)
    : null;
  return [
    el(
      "div",
      { class: "recs-badges" },
      badge(x.status),
      pausedFlag ? el("span", { class: "badge paused", "data-testid": "paused" }, pausedText) : null,
    ),
    took
      ? el("div", { class: "muted", "data-testid": "duration" }, `${ACTIVE.has(x.status) && !x.stopped_at ? "for" : "lasted"} ${took}`)
      : null,
    progressList(x),
  ];
}

/** The signature of what `statusCell` shows (it changes every second while active, for the duration). */
export const statusParts = (x, paused) => [
  x.status,
  paused,
  x.started_at,
  x.stopped_at,
  x.progress ?? null,
  ACTIVE.has(x.status) && Math.floor(Date.now() / 1000),
];

/** Why it stopped, its error, its session, and (once ended) its files. */
export function detailsCell(api, x, detail) {
  const d = detail ?? {};
  const assets = d.recording_assets ?? [];
  return [
    x.stop_reason ? el("div", { class: "muted", "data-testid": "stop-reason" }, `Stopped: ${x.stop_reason}`) : null,
    x.error
      ? el("div", { class: "recs-error", "data-testid": "error" }, x.error.message ?? "", x.error.type ? ` (${x.error.type})` : "")
      : null,
    x.session_id
      ? el(
          "div",
          {},
          el("a", { href: `#/sessions/${x.session_id}`, "data-testid": "session-link" }, "Session"),
          el("span", { class: "mono muted" }, ` ${x.session_id}`),
        )
      : null,
    d.fetch_error ? el("div", { class: "recs-error" }, `Files could not be listed: ${d.fetch_error}`) : null,
    assets.length ? el("ul", { class: "recs-assets", "data-testid": "assets" }, ...assets.map((a) => assetItem(api, a))) : null,
    detail && !d.fetch_error && !assets.length && x.status === "completed" ? el("div", { class: "muted" }, "No files.") : null,
  ];
}

function assetItem(api, a) {
  const extra = [assetShape(a.metadata), a.duration ? formatDuration(a.duration) : null, a.size ? formatBytes(a.size) : null]
    .filter(Boolean)
    .join(" · ");
  const get = assetLinkButton(api, a, "Download", { "data-testid": "asset-download" });
  return el(
    "li",
    { "data-testid": "asset", "data-type": a.type, title: a.path },
    el("span", { "data-testid": "asset-type" }, a.type),
    ` ${extra} `,
    get,
  );
}

/** Redraws the cells that depend on `x` only when what they show changed (buttons keep their identity). */
export function changed(memo, key, parts) {
  const sig = JSON.stringify(parts);
  if (memo[key] === sig) return false;
  memo[key] = sig;
  return true;
}

/** Keeps the last details a row had when an action redraws it without them. */
export function memoDetail(memo, detail) {
  if (detail !== undefined) memo.detail = detail;
  return memo.detail;
}

/**
 * What tells a file from its siblings: a resolution (`{width, height}`, or width and height on the
 * metadata itself), a stream's layer, a VOD's layer count; "" when the metadata says none of these.
 */
export function assetShape(m) {
  if (!m || typeof m !== "object") return "";
  const r = m.resolution && typeof m.resolution === "object" ? m.resolution : m;
  const size = Number(r.width) > 0 && Number(r.height) > 0 ? `${r.width}×${r.height}` : "";
  const layer = m.layer !== undefined && m.layer !== null && m.layer !== "" ? `layer ${m.layer}` : "";
  const layers = Number(m.num_layers) > 0 ? `${m.num_layers} layers, up to ${m.max_width}×${m.max_height}` : "";
  // A quality report: its grade, and the file it is about (the session page plots it).
  const grade = typeof m.grade === "string" ? `${m.grade}${m.for_path ? ` (${String(m.for_path).split("/").pop()})` : ""}` : "";
  return [size, layer, layers, grade].filter(Boolean).join(", ");
}
