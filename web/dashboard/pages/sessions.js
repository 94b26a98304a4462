// Sessions: the list (newest first, filtered by room and state, "Load more"), and one session: its peers
// and everything recorded of it (the SFU recording, browser recordings, live streams), each file with its
// size, duration and status, a Download link and an in-page player (video, audio, the chat CSV as a table);
// each file's quality grade, each recording's (the worst of its files'), and a report's plot (quality.js).

import { ApiError, listAll, newestPage, listAllRooms } from "../api.js";
import { badge, busy, el, formatBytes, formatDuration, formatTime, showError, table } from "../ui.js";
import { gradeBadge, reasonsText, renderQuality, reportsByFile, worstGrade } from "./quality.js";
import { chatTable, describe, thumbnailLabel, TYPE_ORDER, viewerFor } from "./session-files.js";

const PAGE_SIZE = 20;
/** Presigned links made for this page: an hour is plenty to watch or download, and leaks less. */
const LINK_SECONDS = 3600;
/** After a session ends the SFU recording is post-processed; its status is not in the API, so poll a while. */
const POLL_AFTER_END_MS = 10 * 60_000;
const POLL_MS = 5000;
const ACTIVE_JOB = ["starting", "running", "stopping", "post_processing"];

/** The list's filters, kept while the tab lives (coming back from a session keeps them). */
const filters = { room: "", state: "" };

export async function render(view, ctx) {
  return ctx.page === "session" ? renderSession(view, ctx) : renderList(view, ctx);
}

// --- the list -------------------------------------------------------------------------------------

/** The sessions matching `query`, newest first (`order=desc`), a page at a time. */
function newestFirst(query) {
  let last = "";
  let exhausted = false;
  return {
    async next(n) {
      if (exhausted) return [];
      const page = await newestPage("/v2/sessions", n, last, query);
      last = page.last;
      exhausted = !page.last;
      return page.data;
    },
    get more() {
      return !exhausted;
    },
  };
}

const peersOf = (s) => Object.values(s.peers ?? {});
/**
 * People, not connections: the API's `people` (distinct user ids, tapedeck's hidden recorder left out,
 * a rejoin not counted twice); for an older server, the same count made here from its peers.
 */
const peopleOf = (s) =>
  s.people ??
  new Set(
    peersOf(s)
      .filter((p) => !p.role?.startsWith("__"))
      .map((p) => (p.user_id ? `u:${p.user_id}` : `n:${p.name}`)),
  ).size;
/** The session's end: its last peer's leaving (what the server records as its end), else its last update. */
function endedAt(s) {
  if (s.active) return null;
  const left = peersOf(s)
    .map((p) => p.left_at)
    .filter(Boolean)
    .sort();
  return left.at(-1) ?? s.updated_at;
}
const lasted = (s) => (Date.parse(endedAt(s) ?? new Date().toISOString()) - Date.parse(s.created_at)) / 1000;
const stateBadge = (s) => badge(s.active ? "active" : "ended");

async function renderList(view, { refresh }) {
  const rooms = await listAllRooms();
  const roomName = new Map(rooms.map((r) => [r.id, r.name]));
  if (filters.room && !roomName.has(filters.room)) filters.room = "";

  const room = el(
    "select",
    { id: "sessions-room", "data-testid": "filter-room" },
    el("option", { value: "" }, "All rooms"),
    ...rooms.map((r) => el("option", { value: r.id, selected: r.id === filters.room }, r.name)),
  );
  const state = el(
    "select",
    { id: "sessions-state", "data-testid": "filter-state" },
    ...[
      ["", "Active and ended"],
      ["true", "Active"],
      ["false", "Ended"],
    ].map(([v, t]) => el("option", { value: v, selected: v === filters.state }, t)),
  );
  const reload = el("button", { type: "button", "data-testid": "reload" }, "Refresh");
  const list = el("div", { "data-testid": "sessions-list" });
  const count = el("p", { class: "muted", "data-testid": "sessions-count" });
  const more = el("button", { type: "button", "data-testid": "load-more" }, "Load more");

  let feed;
  let shown = [];
  let generation = 0;
  const draw = () => {
    const rows = shown.map((s) => [
      el("a", { href: `#/sessions/${s.id}`, class: "when", "data-testid": "open-session" }, formatTime(s.created_at)),
      el("span", { "data-testid": "session-room" }, roomName.get(s.room_id) ?? s.room_id),
      stateBadge(s),
      el("span", { class: "when" }, s.active ? "–" : formatTime(endedAt(s))),
      formatDuration(lasted(s)),
      el("span", { "data-testid": "peer-count" }, String(peopleOf(s))),
      el("span", { class: "mono" }, s.id),
    ]);
    const filtered = filters.room || filters.state;
    list.replaceChildren(
      table(["Started", "Room", "State", "Ended", "Duration", "People", "Id"], rows, {
        testid: "sessions",
        rowIds: shown.map((s) => s.id),
        empty: filtered ? "No session matches these filters." : "No sessions yet: a session starts when someone joins a room.",
      }),
    );
    count.textContent = shown.length
      ? `${shown.length} session${shown.length === 1 ? "" : "s"} shown, newest first${feed.more ? "" : " (that is all)"}`
      : "";
    more.hidden = !feed.more;
  };
  /** Reads the first page for the current filters; a newer reload wins over a slower older one. */
  const load = async () => {
    const mine = ++generation;
    const query = { ...(filters.room ? { room_id: filters.room } : {}), ...(filters.state ? { active: filters.state } : {}) };
    const f = newestFirst(query);
    more.hidden = true;
    list.replaceChildren(el("p", { class: "progress" }, "Loading sessions…"));
    try {
      const first = await f.next(PAGE_SIZE);
      if (mine !== generation) return;
      feed = f;
      shown = first;
      draw();
    } catch (err) {
      if (mine !== generation) return;
      list.replaceChildren(el("p", { class: "muted", "data-testid": "sessions-error" }, `Sessions could not be loaded: ${err.message}`));
      showError(err);
    }
  };
  room.addEventListener("change", () => {
    filters.room = room.value;
    void load();
  });
  state.addEventListener("change", () => {
    filters.state = state.value;
    void load();
  });
  reload.addEventListener("click", () => void busy(reload, "Refreshing…", refresh));
  more.addEventListener(
    "click",
    () =>
      void busy(more, "Loading…", async () => {
        const f = feed;
        const next = await f.next(PAGE_SIZE);
        if (f !== feed) return;
        shown.push(...next);
        draw();
      }),
  );

  view.replaceChildren(
    el(
      "div",
      { class: "sessions-page" },
      el("h1", {}, "Sessions"),
      el(
        "div",
        { class: "panel" },
        el(
          "div",
          { class: "row" },
          el("div", {}, el("label", { for: "sessions-room" }, "Room"), room),
          el("div", {}, el("label", { for: "sessions-state" }, "State"), state),
          reload,
        ),
        count,
        list,
        el("div", { class: "row" }, more),
      ),
    ),
  );
  await load();
}

// --- one session ------------------------------------------------------------------------------------

const JOB_TITLES = { sfu: "SFU recording", beam: "Browser recording", hls: "Live stream" };
const JOB_NOTES = {
  sfu: "Recorded by the SFU: the composite, a file per peer, each track and the chat, as the template asks.",
  beam: "A hidden headless browser records the room as a viewer sees it, into one MP4.",
  hls: "Streamed live over HLS; its recording is the VOD zip, one MP4 per layer and the chat.",
};
async function renderSession(view, { api, params, onLeave }) {
  const id = params[0];
  const load = async () => {
    const session = await api("GET", `/v2/sessions/${id}`);
    const [assets, beams, streams, failedBeams, failedStreams] = await Promise.all([
      listAll(`/v2/recording-assets?session_id=${id}`),
      listAll(`/v2/recordings?session_id=${id}`),
      listAll(`/v2/live-streams?session_id=${id}`),
      listAll(`/v2/recordings?room_id=${session.room_id}&status=failed`),
      listAll(`/v2/live-streams?room_id=${session.room_id}&status=failed`),
    ]);
    // Jobs asked for while the session ran that failed before joining it have no session id: shown here too.
    const end = endedAt(session) ?? "9999";
    const during = (r) => !r.session_id && r.created_at >= session.created_at && r.created_at <= end;
    return { session, assets, beams: [...beams, ...failedBeams.filter(during)], streams: [...streams, ...failedStreams.filter(during)] };
  };

  let data;
  try {
    data = await load();
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
    view.replaceChildren(
      el(
        "div",
        { class: "sessions-page" },
        el("p", {}, el("a", { href: "#/sessions" }, "← All sessions")),
        el(
          "div",
          { class: "panel", "data-testid": "not-found" },
          el("h1", {}, "Session not found"),
          el("p", {}, "There is no session with the id ", el("span", { class: "mono" }, id), "."),
          el("p", { class: "muted" }, "Check the id, or find the session in the list; sessions are kept with their room."),
        ),
      ),
    );
    return;
  }
  const room = await api("GET", `/v2/rooms/${data.session.room_id}`).catch(() => null);

  const links = new Map(); // asset id → {url, until}
  const presign = async (a) => {
    const known = links.get(a.id);
    if (known && known.until > Date.now()) return known.url;
    const res = await api("GET", `/v2/recording-assets/${a.id}/presigned-url?presign_duration=${LINK_SECONDS}`);
    links.set(a.id, { url: res.url, until: Date.now() + (res.expiry - 60) * 1000 });
    return res.url;
  };

  /**
   * A link to the asset's `i`th thumbnail (its `thumbnails` are storage paths), null when the server
   * cannot presign it: the answer must be for that thumbnail's path, not the asset's file.
   */
  const presignThumbnail = async (a, i) => {
    const k = `${a.id}#${i}`;
    const known = links.get(k);
    if (known && known.until > Date.now()) return known.url;
    const res = await api("GET", `/v2/recording-assets/${a.id}/presigned-url?presign_duration=${LINK_SECONDS}&thumbnail=${i}`);
    const url = res.path === a.thumbnails[i] ? res.url : null;
    links.set(k, { url, until: Date.now() + (res.expiry - 60) * 1000 });
    return url;
  };

  /** Small images of a recording (as its asset lists them), each loaded through its own presigned link. */
  const thumbnailStrip = (a) => {
    const strip = el("div", { class: "thumbnails", "data-testid": "thumbnails", "data-asset": a.id });
    a.thumbnails.forEach((p, i) => {
      const label = thumbnailLabel(p);
      const img = el("img", { alt: label, title: `${label}: ${p}`, width: 160, loading: "lazy", "data-testid": "thumbnail" });
      strip.append(img);
      presignThumbnail(a, i).then(
        (url) => {
          if (url) img.src = url;
          else img.remove();
        },
        () => img.remove(),
      );
    });
    return strip;
  };

  const summary = el("div", { class: "panel" });
  const peers = el("div", { class: "panel" });
  const player = el("div", { class: "panel player", "data-testid": "player", hidden: true });
  const quality = el("div", { class: "panel player quality-panel", "data-testid": "quality-panel", hidden: true });
  const jobs = el("div", { "data-testid": "recordings" });
  const peerName = (pid) => data.session.peers?.[pid]?.name || pid;

  const drawSummary = () => {
    const s = data.session;
    const fact = (label, value, testid) => el("div", {}, el("dt", {}, label), el("dd", { "data-testid": testid }, value));
    summary.replaceChildren(
      el(
        "dl",
        { class: "facts" },
        fact("Room", room ? room.name : s.room_id, "session-room"),
        fact("State", stateBadge(s), "session-state"),
        fact("Started", formatTime(s.created_at), "session-started"),
        fact("Ended", s.active ? "still running" : formatTime(endedAt(s)), "session-ended"),
        fact("Duration", formatDuration(lasted(s)), "session-duration"),
        fact("People", String(peopleOf(s)), "session-peer-count"),
        fact("Session id", el("span", { class: "mono" }, s.id), "session-id"),
      ),
    );
  };

  const drawPeers = () => {
    const list = peersOf(data.session).sort((a, b) => a.joined_at.localeCompare(b.joined_at));
    peers.replaceChildren(
      el("h2", {}, "Peers"),
      table(
        ["Name", "Role", "User id", "Joined", "Left"],
        list.map((p) => [
          el("span", { "data-testid": "peer-name" }, p.name || "(no name)"),
          p.role,
          el("span", { class: "mono" }, p.user_id || "–"),
          formatTime(p.joined_at),
          p.left_at ? formatTime(p.left_at) : "still in the room",
        ]),
        { testid: "peers", rowIds: list.map((p) => p.id), empty: "Nobody joined." },
      ),
    );
  };

  const closePlayer = () => {
    for (const m of player.querySelectorAll("video, audio")) m.pause();
    player.replaceChildren();
    player.hidden = true;
  };

  const reports = new Map(); // quality asset id → its report (a report does not change)
  let qualityShown = 0; // the newest Quality click wins over a slower earlier one
  const closeQuality = () => {
    qualityShown++;
    quality.replaceChildren();
    quality.hidden = true;
    delete quality.dataset.asset;
  };

  /** Shows the report of the quality asset `q` in its own panel (so a file can play beside its plot). */
  const showQuality = async (q, title) => {
    const mine = ++qualityShown;
    const report = reports.get(q.id) ?? (await api("GET", `/v2/recording-assets/${q.id}/quality-report`));
    reports.set(q.id, report);
    if (mine !== qualityShown) return;
    const close = el("button", { type: "button", "data-testid": "quality-close" }, "Close");
    close.addEventListener("click", closeQuality);
    quality.replaceChildren(el("div", { class: "player-head" }, el("strong", { "data-testid": "quality-title" }, title), close));
    quality.dataset.asset = q.id;
    quality.hidden = false;
    renderQuality(quality, report, { peerName });
    quality.scrollIntoView({ block: "nearest" });
  };

  /** Shows the asset in the player panel: a video, an audio track, the chat as a table. */
  const show = async (a, title) => {
    const kind = viewerFor(a);
    const url = await presign(a);
    const close = el("button", { type: "button", "data-testid": "player-close" }, "Close");
    close.addEventListener("click", closePlayer);
    const head = el("div", { class: "player-head" }, el("strong", { "data-testid": "player-title" }, title), close);
    closePlayer();
    let body;
    if (kind === "video" || kind === "audio") {
      body = el(kind, {
        controls: true,
        preload: "metadata",
        playsinline: kind === "video",
        src: url,
        "data-testid": `player-${kind}`,
        "data-asset": a.id,
      });
      body.addEventListener("error", () =>
        showError(
          new ApiError(0, "This file cannot be played here", [
            body.error?.message || `the browser could not load or decode ${a.path}`,
            "use Download to get the file",
          ]),
        ),
      );
      body.play().catch(() => {
        /* autoplay refused: the controls are there */
      });
    } else {
      let res;
      try {
        res = await fetch(url, { referrerPolicy: "no-referrer" });
      } catch (err) {
        throw new ApiError(0, "The file could not be read here", [
          "its bucket does not let this page read it (no CORS rule for this site's origin); Download still works",
          err.message,
        ]);
      }
      if (!res.ok)
        throw new ApiError(res.status, "The file could not be read here", [
          `its storage answered HTTP ${res.status}`,
          "use Download to get the file",
        ]);
      const text = await res.text();
      body = kind === "csv" ? chatTable(text) : el("pre", { class: "asset-text", "data-testid": "player-text" }, text.slice(0, 200_000));
    }
    player.replaceChildren(head, body);
    player.dataset.asset = a.id;
    player.hidden = false;
    player.scrollIntoView({ block: "nearest" });
  };

  /** A real link once its URL is known: fetched when first clicked (never for every row up front). */
  const downloadLink = (a) => {
    const name = a.path.split("/").pop() || a.id;
    const link = el(
      "a",
      { href: `#/sessions/${id}`, target: "_blank", rel: "noopener", download: name, "data-testid": "download" },
      "Download",
    );
    link.addEventListener("click", (e) => {
      const known = links.get(a.id);
      if (known && known.until > Date.now() && link.dataset.url === known.url) return; // the browser follows it
      e.preventDefault();
      if (link.getAttribute("aria-busy") === "true") return;
      link.setAttribute("aria-busy", "true");
      link.textContent = "Preparing…";
      presign(a)
        .then((url) => {
          link.href = url;
          link.dataset.url = url;
          link.click();
        }, showError)
        .finally(() => {
          link.removeAttribute("aria-busy");
          link.textContent = "Download";
        });
    });
    return link;
  };

  /**
   * A file's row; `byFile` maps a file's path to its quality report (asset), `graded` adds the Quality
   * column (only to a recording that has reports). A report's own row is about the file above it.
   */
  const assetRow = (a, byFile, graded) => {
    const [label, details] = describe(a, peerName);
    const viewer = viewerFor(a);
    const actions = el("div", { class: "actions" });
    if (viewer) {
      const b = el("button", { type: "button", "data-testid": "play" }, viewer === "csv" || viewer === "text" ? "Show" : "Play");
      b.addEventListener("click", () => void busy(b, "Opening…", () => show(a, `${label}${details ? `: ${details}` : ""}`)));
      actions.append(b);
    }
    const report = a.type === "quality" ? a : byFile.get(a.path);
    if (report) {
      const file = a.type === "quality" ? (data.assets.find((f) => f.path === report.metadata?.for_path) ?? null) : a;
      const aboutLabel = file ? describe(file, peerName) : [report.metadata?.for_type ?? "file", ""];
      const title = `Quality of ${aboutLabel[0]}${aboutLabel[1] ? `: ${aboutLabel[1]}` : ""}`;
      const b = el("button", { type: "button", "data-testid": "open-quality", title: "Plot of its quality report" }, "Quality");
      b.addEventListener("click", () => void busy(b, "Opening…", () => showQuality(report, title)));
      actions.append(b);
    }
    if (a.status === "completed") actions.append(downloadLink(a));
    const gradeCell = report?.metadata?.grade
      ? el("span", { "data-testid": "asset-grade" }, gradeBadge(report.metadata.grade, reasonsText(report)))
      : "–";
    const about = a.type === "quality" ? `${a.path}\nabout ${a.metadata?.for_path ?? "a file"}` : a.path;
    return [
      el("span", { "data-testid": "asset-type", "data-type": a.type, title: about }, label),
      el("span", { "data-testid": "asset-details" }, details || "–"),
      el("span", { class: "when", "data-testid": "asset-size" }, formatBytes(a.size)),
      a.type === "chat" || a.type === "quality" ? "–" : formatDuration(a.duration),
      ...(graded ? [gradeCell] : []),
      badge(a.status),
      actions,
    ];
  };

  /** The files in TYPE_ORDER, each quality report right under the file it is about (a report of no listed file last). */
  const ordered = (assets) => {
    const byType = (x, y) => TYPE_ORDER.indexOf(x.type) - TYPE_ORDER.indexOf(y.type) || x.id.localeCompare(y.id);
    const files = assets.filter((a) => a.type !== "quality").sort(byType);
    const reportsOf = new Map(files.map((f) => [f.path, []]));
    const orphans = [];
    for (const q of assets.filter((a) => a.type === "quality").sort(byType)) (reportsOf.get(q.metadata?.for_path) ?? orphans).push(q);
    return [...files.flatMap((f) => [f, ...reportsOf.get(f.path)]), ...orphans];
  };

  const groups = () => {
    const out = new Map();
    for (const [kind, list] of [
      ["beam", data.beams],
      ["hls", data.streams],
    ])
      for (const job of list) out.set(job.id, { kind, job, assets: [] });
    for (const a of data.assets) {
      if (!out.has(a.job_id)) out.set(a.job_id, { kind: "sfu", job: null, id: a.job_id, assets: [] });
      out.get(a.job_id).assets.push(a);
    }
    const rank = (g) => (g.kind === "sfu" ? "0" : `1${g.job.created_at}`);
    return [...out.values()].sort((x, y) => rank(x).localeCompare(rank(y)));
  };

  const drawJobs = () => {
    const list = groups();
    const blocks = list.map((g) => {
      const job = g.job;
      const err = job?.error;
      const sorted = ordered(g.assets);
      const byFile = reportsByFile(g.assets);
      const graded = g.assets.some((a) => a.type === "quality");
      // The recording's grade: the worst of its files' reports (a recording object also says it, as `quality`).
      const reportCount = g.assets.filter((a) => a.type === "quality").length || job?.quality?.reports?.length || 0;
      const grade = worstGrade([...g.assets.filter((a) => a.type === "quality").map((a) => a.metadata?.grade), job?.quality?.grade]);
      const when = job
        ? [
            job.started_at && `started ${formatTime(job.started_at)}`,
            job.stopped_at && `stopped ${formatTime(job.stopped_at)}`,
            job.stop_reason && `(${job.stop_reason})`,
          ]
            .filter(Boolean)
            .join(" ")
        : "";
      return el(
        "section",
        { class: "job", "data-testid": "job", "data-kind": g.kind, "data-id": job?.id ?? g.id },
        el(
          "div",
          { class: "job-head" },
          el("h3", {}, JOB_TITLES[g.kind]),
          job ? badge(job.status) : null,
          grade
            ? el(
                "span",
                { class: "job-grade", "data-testid": "job-quality" },
                "Quality ",
                gradeBadge(grade, `the worst of its ${reportCount} file report${reportCount === 1 ? "" : "s"}`),
              )
            : null,
          el("span", { class: "mono muted" }, job?.id ?? g.id),
        ),
        el("p", { class: "muted" }, JOB_NOTES[g.kind], when ? ` ${when[0].toUpperCase()}${when.slice(1)}.` : ""),
        job && !job.session_id
          ? el("p", { class: "muted" }, `Asked for at ${formatTime(job.created_at)}, while this session ran; it failed before it joined.`)
          : null,
        err
          ? el(
              "p",
              { class: "job-error", "data-testid": "job-error" },
              `${err.type ?? err.error_type ?? "ERROR"}: ${err.message ?? err.error ?? JSON.stringify(err)}`,
            )
          : null,
        job?.ladder_warning ? el("p", { class: "muted" }, job.ladder_warning) : null,
        sorted.length
          ? table(
              ["Type", "Details", "Size", "Duration", ...(graded ? ["Quality"] : []), "Status", ""],
              sorted.map((a) => assetRow(a, byFile, graded)),
              {
                testid: "assets",
                rowIds: sorted.map((a) => a.id),
              },
            )
          : el(
              "p",
              { class: "muted", "data-testid": "job-no-files" },
              job && ACTIVE_JOB.includes(job.status) ? "Its files appear here when it finishes." : "No files.",
            ),
        ...sorted.filter((a) => a.status === "completed" && a.thumbnails?.length).map(thumbnailStrip),
      );
    });
    const s = data.session;
    const waiting = s.active
      ? "The session is still running: what is recorded of it appears here when it ends."
      : Date.now() - Date.parse(endedAt(s)) < POLL_AFTER_END_MS
        ? "Nothing yet: a recording of this session may still be processing; this page checks every few seconds."
        : "Nothing was recorded of this session.";
    jobs.replaceChildren(...(blocks.length ? blocks : [el("p", { class: "muted", "data-testid": "recordings-empty" }, waiting)]));
    // A file that is gone (re-recorded, deleted) closes its player.
    if (!player.hidden && !data.assets.some((a) => a.id === player.dataset.asset)) closePlayer();
    if (!quality.hidden && !data.assets.some((a) => a.id === quality.dataset.asset)) closeQuality();
  };

  drawSummary();
  drawPeers();
  drawJobs();
  view.replaceChildren(
    el(
      "div",
      { class: "sessions-page" },
      el("p", {}, el("a", { href: "#/sessions", "data-testid": "back" }, "← All sessions")),
      el("h1", {}, `Session of ${room ? room.name : data.session.room_id}`),
      summary,
      peers,
      el("div", { class: "panel" }, el("h2", {}, "Recordings"), player, quality, jobs),
    ),
  );

  // While something may still change (the session runs, a job works, the SFU recording post-processes),
  // look again every few seconds; only what changed is redrawn, and a playing file keeps playing.
  const fingerprint = (d) =>
    JSON.stringify([
      d.session.active,
      peersOf(d.session).map((p) => [p.id, p.left_at]),
      d.assets.map((a) => [a.id, a.status, a.size]),
      [...d.beams, ...d.streams].map((j) => [j.id, j.status]),
    ]);
  const live = (d) =>
    d.session.active ||
    [...d.beams, ...d.streams].some((j) => ACTIVE_JOB.includes(j.status)) ||
    Date.now() - Date.parse(endedAt(d.session)) < POLL_AFTER_END_MS;
  let timer = 0;
  let failing = false;
  const poll = async () => {
    try {
      const next = await load();
      failing = false;
      if (fingerprint(next) !== fingerprint(data)) {
        data = next;
        drawSummary();
        drawPeers();
        drawJobs();
      }
    } catch (err) {
      if (!failing) showError(err);
      failing = true;
    }
    if (timer !== -1 && live(data)) timer = setTimeout(poll, POLL_MS);
  };
  if (live(data)) timer = setTimeout(poll, POLL_MS);
  onLeave(() => {
    clearTimeout(timer);
    timer = -1;
    closePlayer();
    closeQuality();
  });
}
