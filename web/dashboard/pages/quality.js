// Quality reports on the session page: a file's grade and a recording's (the worst of its reports), and
// one report drawn as a plot: achieved fps, bitrate and A/V offset per second, stacked on one time axis,
// with the frozen, black, silent and clipping stretches and the gaps as shaded bands behind them, and
// each cut (a gap of no length: a pause, whose time is not in the file) as a vertical marker.
// The SVG is drawn here (no chart library): geometry in attributes, colours from classes in
// dashboard.css (the page's CSP allows no inline style), each series one polyline or path (a two-hour
// report is 7200 points, not 7200 elements), and only text from the report, never HTML.

import { el, formatDuration, table } from "../ui.js";

/** Best to worst. */
export const GRADES = ["good", "degraded", "bad"];

/** The worst of `grades` (unknown values ignored), null when there is none. */
export function worstGrade(grades) {
  let worst = null;
  for (const g of grades) if (GRADES.indexOf(g) > GRADES.indexOf(worst)) worst = g;
  return worst;
}

/** A grade as a badge (`good` green, `degraded` amber, `bad` red), its reasons in the tooltip. */
export const gradeBadge = (grade, title) =>
  el("span", { class: `badge grade ${grade}`, "data-testid": "grade", "data-grade": grade, title: title || null }, grade);

/** The quality assets among `assets`, by the path of the file each is about (the newest one of a file). */
export function reportsByFile(assets) {
  const out = new Map();
  for (const q of [...assets].filter((a) => a.type === "quality").sort((x, y) => x.id.localeCompare(y.id)))
    if (q.metadata?.for_path) out.set(q.metadata.for_path, q);
  return out;
}

/** A report's reasons in one line (what its grade means), for a tooltip or a table cell. */
export const reasonsText = (q) => {
  const reasons = q.metadata?.reasons ?? [];
  return reasons.length ? reasons.join("; ") : "no problems found";
};

const SPANS = [
  { key: "frozen", label: "Frozen picture", video: true },
  { key: "black", label: "Black picture", video: true },
  { key: "silence", label: "Silence", audio: true },
  { key: "clipping", label: "Clipping", audio: true },
  { key: "gaps", label: "Gaps" },
];

/** A gap of no length is a cut: time that is not in the file (a pause), which goes on from there. */
const isCut = (s) => s.end === s.start;
const CUTS = { key: "cuts", label: "Cuts (time not in the file)" };

const SVG_NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined && v !== false) node.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

const finite = (v) => typeof v === "number" && Number.isFinite(v);
/** 1, 2, 2.5 or 5 times a power of ten, at least `v` (1 for nothing). */
function niceCeil(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5]) if (m * p >= v - 1e-9) return m * p;
  return 10 * p;
}
const num = (v) => (Math.abs(v) >= 100 || Number.isInteger(v) ? String(Math.round(v)) : String(Math.round(v * 10) / 10));
const signed = (v) => (v > 0 ? `+${num(v)}` : num(v));
const px = (v) => Math.round(v * 10) / 10;
/** A span in words: "0:30 to 0:42 (12 s)". */
const spanText = (s) => `${formatDuration(s.start)} to ${formatDuration(s.end)} (${num(s.end - s.start)} s)`;
const mean = (xs) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);

/** A time-axis label: m:ss, or h:mm:ss on every tick of a file an hour or longer. */
const clock = (t, long) => {
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const ss = String(Math.floor(t % 60)).padStart(2, "0");
  return long ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${h * 60 + m}:${ss}`;
};

/** Seconds between time-axis ticks: at most about eight of them. */
function tickStep(total) {
  for (const s of [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600]) if (total / s <= 8) return s;
  return 3600 * Math.ceil(total / 3600 / 8);
}

/**
 * The plot: three charts (two without a picture) stacked on one time axis, the spans as bands.
 * `width` is the width it is drawn for (the SVG scales to its box; drawn at its real size, text is text-sized).
 */
function plotSvg(report, width) {
  const tl = report.timeline ?? {};
  const fps = (tl.fps ?? []).map((v) => (finite(v) ? v : 0));
  const kbps = (tl.bitrate_kbps ?? []).map((v) => (finite(v) ? v : 0));
  const av = (tl.av_offset_ms ?? []).map((v) => (finite(v) ? v : null));
  const spans = report.spans ?? {};
  const spanEnds = SPANS.flatMap(({ key }) => (spans[key] ?? []).map((s) => s.end));
  const total = Math.max(1, report.file?.duration ?? 0, fps.length, kbps.length, av.length, ...spanEnds.filter(finite));
  const hasVideo = Boolean(report.file?.video);

  const W = Math.round(Math.min(1400, Math.max(640, width || 900)));
  const L = 58;
  const R = 14;
  const plotW = W - L - R;
  const CHART_H = 96;
  const HEAD = 22;
  const GAP = 10;
  const x = (t) => L + (t / total) * plotW;

  const charts = [
    hasVideo && {
      key: "fps",
      title: "Frames per second (achieved)",
      values: fps,
      nominal: report.file.video.fps,
      unit: "fps",
    },
    { key: "bitrate", title: "Bitrate (kbps)", values: kbps, unit: "kbps" },
    { key: "av", title: "A/V offset (ms)", values: av, unit: "ms", gaps: true },
  ].filter(Boolean);

  const chartsTop = 4;
  const chartsBottom = chartsTop + charts.length * (HEAD + CHART_H) + (charts.length - 1) * GAP;
  const H = chartsBottom + 42;
  const root = svg("svg", {
    class: "quality-svg",
    viewBox: `0 0 ${W} ${H}`,
    width: W,
    height: H,
    role: "img",
    "aria-label": `${charts.map((c) => c.title).join(", ")} over ${formatDuration(total)}`,
    "data-testid": "quality-svg",
    "data-duration": total,
    "data-plot-left": L,
    "data-plot-width": plotW,
  });

  // Behind everything: the spans, each a band across all charts; a cut, a line across them (a band of
  // no length would be invisible), with a wider invisible line over it so that its title is easy to hover.
  const bands = svg("g", { class: "bands" });
  for (const { key, label } of SPANS)
    for (const s of spans[key] ?? []) {
      if (!finite(s.start) || !finite(s.end) || s.end < s.start) continue;
      if (key === "gaps" && isCut(s)) {
        const cx = px(x(s.start));
        const line = { x1: cx, x2: cx, y1: chartsTop, y2: chartsBottom };
        bands.append(
          svg(
            "g",
            { class: "cut-mark" },
            svg("title", {}, `Cut at ${formatDuration(s.start)}${s.reason ? `: ${s.reason}` : ""}`),
            svg("line", { ...line, class: "cut", "data-testid": "cut", "data-start": s.start }),
            svg("line", { ...line, class: "cut-hover" }),
          ),
        );
        continue;
      }
      const bx = x(s.start);
      bands.append(
        svg(
          "rect",
          {
            class: `band ${key}`,
            x: px(bx),
            y: chartsTop,
            width: px(Math.max(x(s.end) - bx, 1)),
            height: chartsBottom - chartsTop,
            "data-testid": "band",
            "data-kind": key,
            "data-start": s.start,
            "data-end": s.end,
          },
          svg("title", {}, `${label}: ${spanText(s)}${s.reason ? `, ${s.reason}` : ""}`),
        ),
      );
    }

  // The time axis: a grid line through every chart at each tick, its label under the last.
  const step = tickStep(total);
  const axis = svg("g", { class: "axis" });
  for (let t = 0; t <= total + 1e-9; t += step) {
    const tx = px(x(t));
    axis.append(
      svg("line", { class: "grid", x1: tx, x2: tx, y1: chartsTop, y2: chartsBottom + 4, "data-testid": "x-tick", "data-seconds": t }),
      svg(
        "text",
        { x: tx, y: chartsBottom + 17, "text-anchor": t === 0 ? "start" : tx > L + plotW - 24 ? "end" : "middle" },
        clock(t, total >= 3600),
      ),
    );
  }
  axis.append(
    svg(
      "text",
      { class: "axis-title", x: L + plotW / 2, y: chartsBottom + 35, "text-anchor": "middle" },
      `time from the start of the file (${total >= 3600 ? "h:mm:ss" : "min:s"})`,
    ),
  );
  root.append(bands, axis);

  charts.forEach((c, i) => {
    const top = chartsTop + i * (HEAD + CHART_H + GAP);
    const y0 = top + HEAD;
    const g = svg("g", { class: `chart ${c.key}`, "data-testid": `chart-${c.key}` });
    const known = c.values.filter(finite);
    const lo = Math.min(0, ...known);
    const hi = Math.max(0, ...known, finite(c.nominal) ? c.nominal : 0);
    // A/V offset either way of 0: a symmetric scale; the others from 0 up.
    const top_ = lo < 0 ? niceCeil(Math.max(-lo, hi)) : niceCeil(hi);
    const bottom = lo < 0 ? -top_ : 0;
    const y = (v) => y0 + CHART_H - ((v - bottom) / (top_ - bottom)) * CHART_H;

    const stats = known.length ? `mean ${num(mean(known))} ${c.unit}, min ${num(Math.min(...known))}, max ${num(Math.max(...known))}` : "";
    g.append(
      svg("text", { class: "chart-title", x: L, y: top + 15 }, c.title),
      svg("text", { class: "chart-stats", x: W - R, y: top + 15, "text-anchor": "end" }, stats),
      svg("rect", { class: "frame", x: L, y: y0, width: plotW, height: CHART_H }),
    );
    for (const v of !known.length && c.gaps ? [] : lo < 0 ? [bottom, 0, top_] : [0, top_ / 2, top_]) {
      const ty = px(y(v));
      g.append(
        svg("line", { class: v === 0 && lo < 0 ? "zero" : "hgrid", x1: L, x2: L + plotW, y1: ty, y2: ty }),
        svg("text", { class: "y-label", x: L - 6, y: ty + 4, "text-anchor": "end" }, c.key === "av" ? signed(v) : num(v)),
      );
    }
    if (finite(c.nominal) && c.nominal > 0) {
      const ny = px(y(c.nominal));
      g.append(
        svg(
          "line",
          { class: "nominal", x1: L, x2: L + plotW, y1: ny, y2: ny, "data-testid": "nominal-fps" },
          svg("title", {}, `the file's nominal rate: ${num(c.nominal)} fps`),
        ),
      );
    }
    // Sample i covers second [i, i+1): drawn at its middle.
    const at = (j) => px(x(j + 0.5));
    if (!c.gaps) {
      const points = c.values.map((v, j) => `${at(j)},${px(y(v))}`).join(" ");
      g.append(svg("polyline", { class: `line ${c.key}`, points, "data-testid": `${c.key}-line` }));
    } else {
      // Seconds without a measure are left empty: a new stroke after each gap; a lone second as a short dash.
      let d = "";
      for (let j = 0; j < c.values.length; j++) {
        const v = c.values[j];
        if (v === null) continue;
        const yy = px(y(v));
        const alone = (j === 0 || c.values[j - 1] === null) && (j === c.values.length - 1 || c.values[j + 1] === null);
        if (alone) d += `M${px(x(j))} ${yy}H${px(x(j + 1))}`;
        else d += `${j === 0 || c.values[j - 1] === null ? "M" : "L"}${at(j)} ${yy}`;
      }
      if (d) g.append(svg("path", { class: `line ${c.key}`, d, "data-testid": `${c.key}-line` }));
      else
        g.append(
          svg(
            "text",
            { class: "empty-note", x: L + plotW / 2, y: y0 + CHART_H / 2, "text-anchor": "middle" },
            "not measured in any second",
          ),
        );
    }
    root.append(g);
  });
  return root;
}

/**
 * The legend: each kind of span the file can have, with its colour, how many and how long in all; the
 * gaps counted without the cuts, which have an entry of their own when there are any (how many, each
 * with its reason in the title).
 */
function legend(report) {
  const spans = report.spans ?? {};
  const f = report.file ?? {};
  const kinds = SPANS.filter((k) => (k.video ? f.video : k.audio ? f.audio : true) || (spans[k.key] ?? []).length);
  const cuts = (spans.gaps ?? []).filter(isCut);
  return el(
    "ul",
    { class: "quality-legend", "data-testid": "quality-legend" },
    ...kinds.map(({ key, label }) => {
      const list = (spans[key] ?? []).filter((s) => key !== "gaps" || !isCut(s));
      const secs = list.reduce((a, s) => a + Math.max(0, s.end - s.start), 0);
      return el(
        "li",
        { "data-kind": key, title: list.map(spanText).join("\n") || null },
        el("span", { class: `swatch ${key}`, "aria-hidden": "true" }),
        `${label}: `,
        list.length ? `${list.length} (${formatDuration(secs)} in all)` : "none",
      );
    }),
    cuts.length
      ? el(
          "li",
          { "data-kind": CUTS.key, title: cuts.map((s) => `${formatDuration(s.start)}: ${s.reason ?? ""}`).join("\n") },
          el("span", { class: `swatch ${CUTS.key}`, "aria-hidden": "true" }),
          `${CUTS.label}: ${cuts.length}`,
        )
      : null,
  );
}

/** The A/V offset in words: the figure, how it was measured, and the report's note. */
function avOffsetText(o) {
  if (!o) return "A/V offset: not in this report.";
  const note = o.note ? `: ${o.note}` : "";
  if (!finite(o.ms)) return `A/V offset: not measured${note}`;
  const how = [o.method && `method: ${o.method}`, o.events ? `${o.events} event${o.events === 1 ? "" : "s"}` : ""]
    .filter(Boolean)
    .join(", ");
  return `A/V offset: ${signed(o.ms)} ms${how ? ` (${how})` : ""}${note}`;
}

function fileFacts(report) {
  const f = report.file ?? {};
  const v = f.video;
  const a = f.audio;
  return [
    `Length ${formatDuration(f.duration)}`,
    v ? `video ${v.width}×${v.height} at ${num(v.fps)} fps` : "no video",
    a
      ? `audio ${num(a.sample_rate / 1000)} kHz, ${a.channels === 1 ? "mono" : a.channels === 2 ? "stereo" : `${a.channels} channels`}`
      : "no audio",
    finite(report.analysis?.seconds) ? `analysed in ${num(report.analysis.seconds)} s` : "",
  ]
    .filter(Boolean)
    .join(" · ");
}

/** Per-track rows of an SFU report: packets, losses, keyframe requests, resolution changes. */
function tracksTable(tracks, peerName) {
  return table(
    ["Track", "Peer", "Kind", "Packets", "Lost", "Loss", "Keyframe requests", "Resolution changes"],
    tracks.map((t) => [
      el("span", { class: "mono" }, t.track_id),
      peerName(t.peer_id),
      t.kind,
      String(t.packets),
      String(t.lost),
      el("span", { "data-testid": "track-loss" }, `${finite(t.loss_pct) ? t.loss_pct.toFixed(2) : "–"} %`),
      String(t.keyframe_requests),
      t.resolution_changes?.length
        ? t.resolution_changes.map((r) => `${formatDuration(r.at)} ${r.width}×${r.height}`).join(", ")
        : t.kind === "video"
          ? "none"
          : "–",
    ]),
    { testid: "quality-tracks", rowIds: tracks.map((t) => t.track_id), empty: "No track statistics." },
  );
}

/**
 * Fills `container` (already shown, so that its width is known) with the report: the grade and its
 * reasons, the file's facts, the A/V offset, the plot and its legend, and for an SFU file its tracks.
 * @param {HTMLElement} container
 * @param {object} report  GET /v2/recording-assets/:id/quality-report
 * @param {{peerName?: (id: string) => string}} [o]
 */
export function renderQuality(container, report, o = {}) {
  const peerName = o.peerName ?? ((id) => id);
  const reasons = report.reasons ?? [];
  const chart = el("div", { class: "quality-chart" });
  // Not container.append: it would write the skipped parts (null) as text.
  const body = el(
    "div",
    { class: "quality-body" },
    el(
      "div",
      { class: "quality-head" },
      gradeBadge(report.grade, reasons.join("; ")),
      el("span", { class: "muted", "data-testid": "quality-facts" }, fileFacts(report)),
    ),
    reasons.length
      ? el("ul", { class: "quality-reasons", "data-testid": "quality-reasons" }, ...reasons.map((r) => el("li", {}, r)))
      : el("p", { class: "muted", "data-testid": "quality-reasons" }, "No problems found."),
    report.rule
      ? el("details", { class: "quality-rule" }, el("summary", {}, "How the grade is given"), el("p", { class: "muted" }, report.rule))
      : null,
    el("p", { "data-testid": "av-offset" }, avOffsetText(report.av_offset)),
    report.live?.encoder_lag_ms
      ? el(
          "p",
          { "data-testid": "encoder-lag" },
          `Live encoder lag: median ${num(report.live.encoder_lag_ms.median)} ms, max ${num(report.live.encoder_lag_ms.max)} ms`,
        )
      : null,
    report.file?.video ? null : el("p", { class: "muted", "data-testid": "no-fps" }, "Audio only: no picture, so no frame-rate chart."),
    chart,
    legend(report),
    report.tracks?.length ? el("div", {}, el("h4", {}, "Tracks"), tracksTable(report.tracks, peerName)) : null,
  );
  container.append(body);
  chart.append(plotSvg(report, chart.clientWidth));
}
