// External streams (RTMP out) on the Recordings & live page: the start form (1 to 3 RTMP/RTMPS URLs,
// whose stream keys are typed as passwords, an MP4 of it or not, the resolution) and the list, updated by
// the page's polling like the two others. The API answers `rtmp_urls` in full (as 100ms does); the page
// never shows a stream key: every URL is shown as `rtmp://host:port/app/***`.

import { busy, el, fill } from "../ui.js";
import {
  CONTROLLABLE,
  RESOLUTIONS,
  action,
  changed,
  detailsCell,
  header,
  makeList,
  memoDetail,
  pickedResolution,
  statusCell,
  statusParts,
} from "./recs-list.js";

/** 100ms's limit as tapedeck takes it (docs/rtmp.md). */
const MAX_URLS = 3;

/**
 * An RTMP URL without its stream key, user info or query: `rtmp://host:port/app/***`, as the server
 * redacts it (src/recorders/rtmp/rtmp-url.ts). Parsed by hand: browsers differ on non-special URLs.
 */
export function redactRtmpUrl(url) {
  const m = /^([a-z][a-z0-9+.-]*:)\/\/([^/?#]*)([^?#]*)/i.exec(String(url ?? ""));
  if (!m) return "(invalid RTMP URL)";
  const host = m[2].slice(m[2].lastIndexOf("@") + 1);
  const segments = m[3].split("/");
  const last = segments.length - 1;
  if (segments[last]) segments[last] = "***";
  else if (last > 1 && segments[last - 1]) segments[last - 1] = "***";
  return `${m[1].toLowerCase()}//${host}${segments.join("/")}`;
}

/**
 * The start form and the list. `room` is the page's room picker, `pickedName()` its room's name,
 * `update()` the page's refresh of every list.
 */
export function makeExternalStreams({ api, first, roomName, room, enabled, pickedName, showOk, update }) {
  const urls = Array.from({ length: MAX_URLS }, (_, i) =>
    el("input", {
      type: "password",
      id: `rtmp-url-${i}`,
      "data-testid": "rtmp-url",
      autocomplete: "off",
      spellcheck: "false",
      "aria-label": `RTMP URL ${i + 1}`,
      placeholder: i === 0 ? "rtmp://a.rtmp.youtube.com/live2/STREAM_KEY" : "another one (optional)",
    }),
  );
  const showKeys = el("input", { type: "checkbox", id: "rtmp-show-keys", "data-testid": "rtmp-show-keys" });
  showKeys.addEventListener("change", () => {
    for (const u of urls) u.type = showKeys.checked ? "text" : "password";
  });
  const record = el("input", { type: "checkbox", id: "rtmp-recording", "data-testid": "rtmp-recording" });
  const resolution = el(
    "select",
    { id: "rtmp-resolution", "data-testid": "rtmp-resolution" },
    ...RESOLUTIONS.map(([v, t]) => el("option", { value: v }, t)),
  );
  const start = el("button", { type: "submit", class: "primary", "data-testid": "start-rtmp", disabled: !enabled }, "Start RTMP out");
  const form = el(
    "form",
    { class: "recs-start" },
    el("h2", {}, "RTMP out"),
    el(
      "p",
      { class: "muted" },
      "The recorder's view pushed to up to 3 RTMP or RTMPS ingests (YouTube, Twitch, your own server). Each URL ends in its stream key; leave them all empty to use the template's RTMP destination.",
    ),
    el("label", { for: "rtmp-url-0" }, "RTMP URLs"),
    el("div", { class: "rtmp-urls" }, ...urls),
    el("label", { class: "check" }, showKeys, "Show the stream keys while typing"),
    el("div", { class: "row" }, el("div", {}, el("label", { for: "rtmp-resolution" }, "Resolution"), resolution)),
    el("label", { class: "check" }, record, "Also record an MP4"),
    el("div", { class: "row recs-submit" }, start),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void busy(start, "Starting…", async () => {
      const body = {};
      const given = urls.map((u) => u.value.trim()).filter(Boolean);
      if (given.length) body.rtmp_urls = given;
      if (record.checked) body.recording = true;
      const res = pickedResolution(resolution.value);
      if (res) body.resolution = res;
      const r = await api("POST", `/v2/external-streams/room/${room.value}/start`, body);
      showOk(`External stream of ${pickedName()} is starting`, [
        `external stream ${r.id} to ${(r.rtmp_urls ?? []).map(redactRtmpUrl).join(", ")}`,
      ]);
      await update();
    });
  });

  const list = makeList({
    api,
    path: "/v2/external-streams",
    first,
    testid: "external-streams",
    headers: ["External stream", "Status", "Destinations", "Details", ""],
    empty: "No external streams yet.",
    row: (x) => streamRow(x),
  });

  function streamRow(initial) {
    let cur = initial;
    const memo = {};
    const who = el("div");
    const status = el("div");
    const dests = el("div");
    const info = el("div", { class: "recs-details" });
    const stop = action("Stop", "stop", "danger");
    const apply = (x, detail) => show(x, memoDetail(memo, detail));
    const show = (x, detail) => {
      cur = x;
      if (changed(memo, "who", [x.room_id])) who.replaceChildren(header(x, "requested", roomName));
      if (changed(memo, "status", statusParts(x, false))) fill(status, statusCell(x, false, ""));
      if (changed(memo, "dests", [x.rtmp_urls, x.rtmp_failures ?? null])) fill(dests, destinations(x));
      if (changed(memo, "info", [x.recording, x.resolution, x.stop_reason, x.error, x.session_id, detail ?? null])) {
        const size = x.resolution ? `${x.resolution.width}x${x.resolution.height}` : "";
        fill(
          info,
          el(
            "div",
            { class: "muted", "data-testid": "rtmp-kind" },
            [size, x.recording ? "recorded to an MP4" : "not recorded"].filter(Boolean).join(" · "),
          ),
          // Not recorded: no files to list (nor "No files.").
          detailsCell(api, x, x.recording ? detail : undefined),
        );
      }
      stop.set("Stop", CONTROLLABLE.has(x.status), `the stream is ${x.status}`);
    };
    stop.addEventListener("click", () =>
      stop.run(
        "Stopping…",
        async () => {
          await api("POST", `/v2/external-streams/${cur.id}/stop`, {});
          showOk(cur.recording ? "External stream stopping: its MP4 is finished and uploaded" : "External stream stopping");
          await update();
        },
        () => apply(cur),
      ),
    );
    const tr = el(
      "tr",
      { "data-id": initial.id, "data-testid": "rtmp-row" },
      el("td", { "data-label": "External stream" }, who),
      el("td", { "data-label": "Status" }, status),
      el("td", { "data-label": "Destinations" }, dests),
      el("td", { "data-label": "Details" }, info),
      el("td", { "data-label": "Actions" }, el("div", { class: "row recs-actions" }, stop)),
    );
    return { tr, apply };
  }

  /** Each URL redacted, and the ones given up with their last error. */
  function destinations(x) {
    const failures = x.rtmp_failures ?? [];
    const failed = new Map(failures.map((f) => [f.url_index, f]));
    const shown = (x.rtmp_urls ?? []).map((u, i) => {
      const f = failed.get(i);
      return el(
        "li",
        { "data-testid": "rtmp-destination", class: "mono" },
        redactRtmpUrl(u),
        f ? el("div", { class: "recs-error", "data-testid": "rtmp-failure" }, `given up: ${f.message}`) : null,
      );
    });
    // A failure whose URL is not in the list (it should not happen): still said.
    const orphans = failures.filter((f) => !(x.rtmp_urls ?? [])[f.url_index]);
    return [
      shown.length ? el("ul", { class: "recs-layers", "data-testid": "rtmp-destinations" }, ...shown) : null,
      ...orphans.map((f) =>
        el("div", { class: "recs-error", "data-testid": "rtmp-failure" }, `${redactRtmpUrl(f.url)} given up: ${f.message}`),
      ),
    ];
  }

  return { form, list };
}
