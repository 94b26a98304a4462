// Recordings & live: start a browser recording, a live stream (HLS) or an external stream (RTMP out) of
// a room, and follow the three lists as their status changes: polled every second while any is starting,
// running, stopping or post-processing, and not at all once the view is left. Pause, resume and stop
// where the status allows; a live stream's playback URL, its ladder, and a player (hls.js) in the page; a
// finished one's error, session and files. The lists and their cells are recs-list.js's; the external
// streams' form and rows, external-streams.js's.

import { newestPage, listAllRooms } from "../api.js";
import { busy, copy, el, fill } from "../ui.js";
import { makeExternalStreams } from "./external-streams.js";
import { makePlayer } from "./live-player.js";
import {
  CONTROLLABLE,
  PAGE_SIZE,
  RESOLUTIONS,
  action,
  changed,
  detailsCell,
  header as headerOf,
  makeList,
  memoDetail,
  pickedResolution,
  statusCell,
  statusParts,
} from "./recs-list.js";

export { assetShape } from "./recs-list.js";

const POLL_MS = 1000;
export async function render(view, { api, onLeave, refresh, showError, showOk }) {
  const [rooms, recordings, streams, external] = await Promise.all([
    listAllRooms(),
    newestPage("/v2/recordings", PAGE_SIZE),
    newestPage("/v2/live-streams", PAGE_SIZE),
    newestPage("/v2/external-streams", PAGE_SIZE),
  ]);
  const roomName = new Map(rooms.map((r) => [r.id, r.name]));
  const enabled = rooms.filter((r) => r.enabled);

  let left = false;
  const player = makePlayer({ api });
  const kinds = {
    rec: makeList({
      api,
      path: "/v2/recordings",
      first: recordings,
      testid: "recordings",
      headers: ["Recording", "Status", "Details", ""],
      empty: "No browser recordings yet.",
      row: (x) => recordingRow(x),
    }),
    live: makeList({
      api,
      path: "/v2/live-streams",
      first: streams,
      testid: "live-streams",
      headers: ["Live stream", "Status", "Playback", "Ladder", "Details", ""],
      empty: "No live streams yet.",
      row: (x) => streamRow(x),
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
  const rtmp = makeExternalStreams({
    api,
    first: external,
    roomName,
    room,
    enabled: enabled.length > 0,
    pickedName,
    showOk,
    update,
  });
  kinds.rtmp = rtmp.list;

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
      const res = pickedResolution(resolution.value);
      if (res) body.resolution = res;
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
    el("div", { class: "recs-forms" }, recForm, liveForm, rtmp.form),
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

  // ---- Rows ----
  const header = (x, what) => headerOf(x, what, roomName);

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
      if (changed(memo, "status", statusParts(x, x.paused))) fill(status, statusCell(x, x.paused, "paused"));
      if (changed(memo, "info", [x.stop_reason, x.error, x.session_id, detail ?? null])) fill(info, detailsCell(api, x, detail));
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
      if (changed(memo, "status", statusParts(x, x.recording_paused))) fill(status, statusCell(x, x.recording_paused, "recording paused"));
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
        fill(
          info,
          el("div", { class: "muted" }, keeps.length ? `Keeps ${keeps.join(" and ")}` : "Not recorded"),
          detailsCell(api, x, detail),
        );
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
      el("h2", {}, "External streams (RTMP)"),
      el("section", { class: "panel" }, kinds.rtmp.node),
    ),
  );
  if (Object.values(kinds).some((k) => k.active())) timer = setTimeout(update, POLL_MS);
}
