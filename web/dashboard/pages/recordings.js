// Recordings & live: start a browser recording or a live stream (HLS) of a room, and follow both lists
// as their status changes: polled every second while any is starting, running, stopping or
// post-processing, and not at all once the view is left. Pause, resume and stop where the status allows;
// a live stream's playback URL, its ladder, and a player (hls.js) in the page; a finished one's error,
// session and files.

import { listAll, newestPage } from "../api.js";
import { badge, busy, copy, el, fill, formatBytes, formatDuration, formatTime } from "../ui.js";
import { assetLinkButton, makePlayer } from "./live-player.js";

const ACTIVE = new Set(["starting", "running", "stopping", "post_processing"]);
const ENDED = new Set(["completed", "failed"]);
const CONTROLLABLE = new Set(["starting", "running"]);
const RESOLUTIONS = [
  ["", "Template default (else 1280x720)"],
  ["1280x720", "1280x720 landscape"],
  ["1920x1080", "1920x1080 landscape"],
  ["720x1280", "720x1280 portrait"],
];
const PAGE_SIZE = 25;
const POLL_MS = 1000;
/** What a starting recorder is doing, by the API's `progress.step` (src/recorders/browser/capture-progress.ts). */
const STEP_LABELS = {
  waiting_for_recorder: "Waiting for a recorder",
  launching_browser: "Launching the recorder (Chromium)",
  loading_page: "Loading the room page",
  joining_room: "Joining the room",
  starting_capture: "Capturing the first frame",
  first_segment: "Encoding the first segment",
};

export async function render(view, { api, onLeave, refresh, showError, showOk }) {
  const [rooms, recordings, streams] = await Promise.all([
    listAll("/v2/rooms"),
    newestPage("/v2/recordings", PAGE_SIZE),
    newestPage("/v2/live-streams", PAGE_SIZE),
  ]);
  const roomName = new Map(rooms.map((r) => [r.id, r.name]));
  const enabled = rooms.filter((r) => r.enabled);

  let left = false;
  const player = makePlayer({ api });
  const kinds = {
    rec: makeList({
      kind: "rec",
      path: "/v2/recordings",
      first: recordings,
      testid: "recordings",
      headers: ["Recording", "Status", "Details", ""],
      empty: "No browser recordings yet.",
    }),
    live: makeList({
      kind: "live",
      path: "/v2/live-streams",
      first: streams,
      testid: "live-streams",
      headers: ["Live stream", "Status", "Playback", "Ladder", "Details", ""],
      empty: "No live streams yet.",
    }),
  };

  // ---- Starting one ----
  const room = el("select", { id: "rec-room", "data-testid": "rec-room" }, ...enabled.map((r) => el("option", { value: r.id }, r.name)));
  const resolution = el(
    "select",
    { id: "rec-resolution", "data-testid": "rec-resolution" },
    ...RESOLUTIONS.map(([v, t]) => el("option", { value: v }, t)),
  );
  const layout = el(
    "select",
    { id: "rec-layout", "data-testid": "rec-layout" },
    el("option", { value: "grid" }, "Grid"),
    el("option", { value: "active-speaker" }, "Active speaker"),
  );
  const audioOnly = el("input", { type: "checkbox", id: "rec-audio-only", "data-testid": "rec-audio-only" });
  const startRec = el(
    "button",
    { type: "submit", class: "primary", "data-testid": "start-recording", disabled: !enabled.length },
    "Start recording",
  );
  const hlsVod = el("input", { type: "checkbox", id: "live-hls-vod", "data-testid": "live-hls-vod", checked: true });
  const singleFile = el("input", { type: "checkbox", id: "live-single-file", "data-testid": "live-single-file", checked: true });
  const startLive = el(
    "button",
    { type: "submit", class: "primary", "data-testid": "start-live", disabled: !enabled.length },
    "Start live stream",
  );
  const pickedName = () => roomName.get(room.value) ?? room.value;

  const recForm = el(
    "form",
    { class: "recs-start" },
    el("h2", {}, "Browser recording"),
    el("p", { class: "muted" }, "A hidden recorder joins the room, shows its peers in a layout and records that into one MP4."),
    el(
      "div",
      { class: "row" },
      el("div", {}, el("label", { for: "rec-resolution" }, "Resolution"), resolution),
      el("div", {}, el("label", { for: "rec-layout" }, "Layout"), layout),
    ),
    el("label", { class: "check" }, audioOnly, "Audio only (the mixed sound, no video)"),
    el("div", { class: "row recs-submit" }, startRec),
  );
  recForm.addEventListener("submit", (e) => {
    e.preventDefault();
    void busy(startRec, "Starting…", async () => {
      const body = { layout: layout.value };
      if (resolution.value) {
        const [width, height] = resolution.value.split("x").map(Number);
        body.resolution = { width, height };
      }
      if (audioOnly.checked) body.audio_only = true;
      const r = await api("POST", `/v2/recordings/room/${room.value}/start`, body);
      showOk(`Recording of ${pickedName()} is starting`, [`recording ${r.id}: the recorder is joining the room`]);
      await update();
    });
  });

  const liveForm = el(
    "form",
    { class: "recs-start" },
    el("h2", {}, "Live stream (HLS)"),
    el(
      "p",
      { class: "muted" },
      "The recorder's view encoded into a ladder of layers and served as live HLS; the ladder is the template destination's, cut to what this machine can encode.",
    ),
    el("label", { class: "check" }, hlsVod, "Keep a VOD of the stream (playlists and segments, zipped)"),
    el("label", { class: "check" }, singleFile, "Keep one MP4 per layer"),
    el("div", { class: "row recs-submit" }, startLive),
  );
  liveForm.addEventListener("submit", (e) => {
    e.preventDefault();
    void busy(startLive, "Starting…", async () => {
      const r = await api("POST", `/v2/live-streams/room/${room.value}/start`, {
        recording: { hls_vod: hlsVod.checked, single_file_per_layer: singleFile.checked },
      });
      showOk(`Live stream of ${pickedName()} is starting`, [`live stream ${r.id}: watch it once it is running`]);
      await update();
    });
  });

  const startPanel = el(
    "section",
    { class: "panel" },
    enabled.length
      ? el("div", {}, el("label", { for: "rec-room" }, "Room"), room)
      : el(
          "p",
          { "data-testid": "no-rooms" },
          "No enabled room to record: create or enable one on the ",
          el("a", { href: "#/rooms" }, "Rooms"),
          " page.",
        ),
    el("div", { class: "recs-forms" }, recForm, liveForm),
  );

  // ---- Live updates ----
  let timer = 0;
  let running = null;
  let again = false;
  let lastError = "";

  /** Fetches what may have changed (everything from the oldest unfinished item on), then redraws. */
  async function update() {
    if (left) return;
    if (running) {
      again = true;
      return running;
    }
    clearTimeout(timer);
    timer = 0;
    running = (async () => {
      do {
        again = false;
        await Promise.all(Object.values(kinds).map((k) => k.load()));
      } while (again && !left);
    })();
    let delay = POLL_MS;
    try {
      await running;
      lastError = "";
    } catch (err) {
      if (err?.status === 401) return void refresh();
      if (err?.message !== lastError) showError(err);
      lastError = err?.message ?? "";
      delay = 5 * POLL_MS;
    } finally {
      running = null;
    }
    // Faster while something is starting, so its steps show as they pass.
    if (delay === POLL_MS && Object.values(kinds).some((k) => k.starting())) delay = POLL_MS / 2;
    if (!left && Object.values(kinds).some((k) => k.active())) timer = setTimeout(update, delay);
  }

  onLeave(() => {
    left = true;
    clearTimeout(timer);
    player.stop();
  });

  // ---- A list (recordings or live streams), newest first, updated in place ----
  function makeList({ kind, path, first, testid, headers, empty }) {
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
        let row = rows.get(x.id);
        if (!row) rows.set(x.id, (row = kind === "rec" ? recordingRow(x) : streamRow(x)));
        row.apply(x, details.get(x.id));
        return row.tr;
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
  function action(text, testid, cls = "") {
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

  const header = (x, what) =>
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

  function statusCell(x, pausedFlag, pausedText) {
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

  function detailsCell(x, detail) {
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
      assets.length ? el("ul", { class: "recs-assets", "data-testid": "assets" }, ...assets.map(assetItem)) : null,
      detail && !d.fetch_error && !assets.length && x.status === "completed" ? el("div", { class: "muted" }, "No files.") : null,
    ];
  }

  function assetItem(a) {
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
  function changed(memo, key, parts) {
    const sig = JSON.stringify(parts);
    if (memo[key] === sig) return false;
    memo[key] = sig;
    return true;
  }

  function recordingRow(initial) {
    let cur = initial;
    const memo = {};
    const who = el("div");
    const status = el("div");
    const info = el("div", { class: "recs-details" });
    const pause = action("Pause", "pause");
    const stop = action("Stop", "stop", "danger");
    const apply = (x, detail) => show(x, memoDetail(memo, detail));
    const show = (x, detail) => {
      cur = x;
      if (changed(memo, "who", [x.room_id])) who.replaceChildren(header(x, "requested"));
      if (
        changed(memo, "status", [
          x.status,
          x.paused,
          x.started_at,
          x.stopped_at,
          x.progress ?? null,
          ACTIVE.has(x.status) && Math.floor(Date.now() / 1000),
        ])
      )
        fill(status, statusCell(x, x.paused, "paused"));
      if (changed(memo, "info", [x.stop_reason, x.error, x.session_id, detail ?? null])) fill(info, detailsCell(x, detail));
      pause.set(x.paused ? "Resume" : "Pause", CONTROLLABLE.has(x.status), `a ${x.status} recording cannot be paused or resumed`);
      stop.set("Stop", CONTROLLABLE.has(x.status), `the recording is ${x.status}`);
    };
    pause.addEventListener("click", () =>
      pause.run(
        cur.paused ? "Resuming…" : "Pausing…",
        async () => {
          const verb = cur.paused ? "resume" : "pause";
          const r = await api("POST", `/v2/recordings/room/${cur.room_id}/${verb}`, {});
          cur = { ...cur, paused: r.paused };
          showOk(r.paused ? "Recording paused: the paused span is left out of the file" : "Recording resumed");
          await update();
        },
        () => apply(cur),
      ),
    );
    stop.addEventListener("click", () =>
      stop.run(
        "Stopping…",
        async () => {
          await api("POST", `/v2/recordings/${cur.id}/stop`, {});
          showOk("Recording stopping: the file is finished and uploaded");
          await update();
        },
        () => apply(cur),
      ),
    );
    const tr = el(
      "tr",
      { "data-id": initial.id, "data-testid": "recording-row" },
      el("td", { "data-label": "Recording" }, who),
      el("td", { "data-label": "Status" }, status),
      el("td", { "data-label": "Details" }, info),
      el("td", { "data-label": "Actions" }, el("div", { class: "row recs-actions" }, pause, stop)),
    );
    return { tr, apply };
  }

  function streamRow(initial) {
    let cur = initial;
    const memo = {};
    const who = el("div");
    const status = el("div");
    const ladder = el("div");
    const info = el("div", { class: "recs-details" });
    const url = el("div", { class: "mono", "data-testid": "playback-url" }, initial.playback?.url ?? "");
    const copyUrl = el("button", { type: "button", "data-testid": "copy-playback" }, "Copy URL");
    copyUrl.addEventListener("click", () => void copy(cur.playback.url, "Playback URL"));
    const watch = action("Watch", "watch", "primary");
    const pause = action("Pause recording", "pause-recording");
    const stop = action("Stop", "stop", "danger");
    const apply = (x, detail) => show(x, memoDetail(memo, detail));
    const recorded = (x) => x.recording?.hls_vod || x.recording?.single_file_per_layer;
    const show = (x, detail) => {
      cur = x;
      if (changed(memo, "who", [x.room_id])) who.replaceChildren(header(x, "requested"));
      if (
        changed(memo, "status", [
          x.status,
          x.recording_paused,
          x.started_at,
          x.stopped_at,
          x.progress ?? null,
          ACTIVE.has(x.status) && Math.floor(Date.now() / 1000),
        ])
      )
        fill(status, statusCell(x, x.recording_paused, "recording paused"));
      if (changed(memo, "ladder", [x.layers, x.ladder_warning])) {
        fill(
          ladder,
          el(
            "ul",
            { class: "recs-layers", "data-testid": "layers" },
            ...(x.layers ?? []).map((l) => el("li", { "data-testid": "layer" }, `${l.width}x${l.height} · ${l.video_bitrate} kb/s`)),
          ),
          x.ladder_warning ? el("p", { class: "recs-warn", "data-testid": "ladder-warning" }, x.ladder_warning) : null,
        );
      }
      if (changed(memo, "info", [x.recording, x.stop_reason, x.error, x.session_id, detail ?? null])) {
        const keeps = [x.recording?.hls_vod ? "VOD" : null, x.recording?.single_file_per_layer ? "an MP4 per layer" : null].filter(Boolean);
        fill(info, el("div", { class: "muted" }, keeps.length ? `Keeps ${keeps.join(" and ")}` : "Not recorded"), detailsCell(x, detail));
      }
      player.sync(x, detail);
      watch.set("Watch", x.status === "running", `only a running stream can be watched (this one is ${x.status})`);
      pause.set(
        x.recording_paused ? "Resume recording" : "Pause recording",
        CONTROLLABLE.has(x.status) && recorded(x),
        recorded(x) ? `the stream is ${x.status}` : "this stream is not recorded",
      );
      stop.set("Stop", CONTROLLABLE.has(x.status), `the stream is ${x.status}`);
    };
    watch.addEventListener("click", () => player.watch(cur, roomName.get(cur.room_id) ?? cur.room_id));
    pause.addEventListener("click", () =>
      pause.run(
        cur.recording_paused ? "Resuming…" : "Pausing…",
        async () => {
          const r = await api("POST", `/v2/live-streams/${cur.id}/${cur.recording_paused ? "resume" : "pause"}-recording`, {});
          cur = r;
          showOk(r.recording_paused ? "Recording paused: the stream goes on, the span is left out of the files" : "Recording resumed");
          await update();
        },
        () => apply(cur),
      ),
    );
    stop.addEventListener("click", () =>
      stop.run(
        "Stopping…",
        async () => {
          await api("POST", `/v2/live-streams/${cur.id}/stop`, {});
          showOk("Live stream stopping: its recording is made from the live segments");
          await update();
        },
        () => apply(cur),
      ),
    );
    const tr = el(
      "tr",
      { "data-id": initial.id, "data-testid": "stream-row" },
      el("td", { "data-label": "Live stream" }, who),
      el("td", { "data-label": "Status" }, status),
      el("td", { "data-label": "Playback" }, url, el("div", { class: "row recs-actions" }, copyUrl, watch)),
      el("td", { "data-label": "Ladder" }, ladder),
      el("td", { "data-label": "Details" }, info),
      el("td", { "data-label": "Actions" }, el("div", { class: "row recs-actions" }, pause, stop)),
    );
    return { tr, apply };
  }

  /** Keeps the last details a row had when an action redraws it without them. */
  function memoDetail(memo, detail) {
    if (detail !== undefined) memo.detail = detail;
    return memo.detail;
  }

  await Promise.all(Object.values(kinds).map((k) => k.init()));
  view.replaceChildren(
    el(
      "div",
      { class: "recs-page" },
      el("h1", {}, "Recordings & live"),
      startPanel,
      el("h2", {}, "Live streams"),
      player.panel,
      el("section", { class: "panel" }, kinds.live.node),
      el("h2", {}, "Browser recordings"),
      el("section", { class: "panel" }, kinds.rec.node),
    ),
  );
  if (Object.values(kinds).some((k) => k.active())) timer = setTimeout(update, POLL_MS);
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
  return [size, layer, layers].filter(Boolean).join(", ");
}
