// The HLS ladder: which layers a live stream produces, what they cost, and the ffmpeg command that
// encodes the browser capture once into all of them. Pure: no I/O, unit-tested.
//
// One ffmpeg reads the recorder page's WebM (MediaRecorder H.264 + Opus), decodes it once, makes it
// constant 30 fps, splits it, scales each copy and encodes it with x264 with the same GOP (60 frames,
// no scene-cut keyframes), so every variant is cut at the same instants: 2 s segments that line up
// across the ladder, which is what lets a player switch layers and what lets a layer's MP4 be made
// later by remuxing segments, never re-encoding.

import { webmPipeInputArgs } from "../../media/ffmpeg-args.ts";
import { PRESETS, type Preset } from "../../media/x264-presets.ts";
import type { Renderer } from "../../domain/recording-types.ts";
import type { EncodedLayer } from "../core/recorder.ts";

export { PRESETS, type Preset };

export interface Layer {
  width: number;
  height: number;
  /** kbps */
  videoBitrate: number;
  /** kbps */
  audioBitrate: number;
}

/** 100ms's usual ladder, landscape: 0 = 1080p, then 720p, 480p, 360p, 240p. */
export const DEFAULT_LAYERS: readonly Layer[] = [
  { width: 1920, height: 1080, videoBitrate: 4500, audioBitrate: 128 },
  { width: 1280, height: 720, videoBitrate: 2500, audioBitrate: 128 },
  { width: 854, height: 480, videoBitrate: 1200, audioBitrate: 96 },
  { width: 640, height: 360, videoBitrate: 700, audioBitrate: 96 },
  { width: 426, height: 240, videoBitrate: 400, audioBitrate: 64 },
];

export const FPS = 30;
/** Segment length (100ms: 2 s). The GOP is exactly one segment. */
export const SEGMENT_SECONDS = 2;

/** Default video bitrate (kbps) for a layer given without one: about 0.09 bits per pixel at 30 fps. */
export const defaultVideoBitrate = (w: number, h: number): number => Math.max(150, Math.round((w * h * FPS * 0.09) / 1000 / 50) * 50);

/**
 * 100ms's bounds: even sides, the shorter side in 144..1080, the longer in 192..1920; listed from the
 * highest resolution down. Returns what is wrong, one line each.
 */
export function layerProblems(layers: ReadonlyArray<{ width: number; height: number }>, where = "layers"): string[] {
  const problems: string[] = [];
  if (layers.length === 0) problems.push(`${where}: at least one layer`);
  if (layers.length > 8) problems.push(`${where}: at most 8 layers, not ${layers.length}`);
  layers.forEach((l, i) => {
    const at = `${where}[${i}] ${l.width}x${l.height}`;
    if (!Number.isInteger(l.width) || !Number.isInteger(l.height)) return void problems.push(`${at}: width and height must be integers`);
    if (l.width % 2 || l.height % 2) problems.push(`${at}: both sides must be even`);
    const short = Math.min(l.width, l.height);
    const long = Math.max(l.width, l.height);
    if (short < 144 || short > 1080) problems.push(`${at}: the shorter side must be within 144..1080`);
    if (long < 192 || long > 1920) problems.push(`${at}: the longer side must be within 192..1920`);
    if (i > 0 && l.width * l.height > layers[i - 1].width * layers[i - 1].height)
      problems.push(`${at}: list layers from the highest resolution down`);
  });
  return problems;
}

/**
 * What a layer costs while live, in cores, measured on the 2-core Debian machines (bench/hls.bench.ts
 * prints the figures this is fitted to): x264 at `preset` on 30 fps, per million pixels; plus, once per
 * stream, decoding the capture and Chromium rendering and encoding the page at the top layer's size.
 */
export const COST = {
  /** Per layer, whatever its size: scaling the capture down, its AAC, its muxing. */
  rungFixed: 0.13,
  /** x264 cores per megapixel at 30 fps, by preset. */
  encodePerMegapixel: { ultrafast: 0.15, superfast: 0.25, veryfast: 0.45 } as Record<Preset, number>,
  /** Chromium (render + tab capture + its own H.264 encode) and the decode of it: fixed + per megapixel. */
  captureFixed: 0.95,
  capturePerMegapixel: 0.4,
};

/**
 * The same with the live compositor drawing the layout: no browser and no decode of a first encode; it
 * composes at the top size and encodes every layer from that picture (the x264 figures are the same).
 * Fitted to `npm run bench` (compositor rows): the 5-layer default ladder, 1080p top, took about 0.75
 * core for the compositor and 0.1 for ffmpeg's segmenting and AAC.
 */
export const COMPOSITOR_COST = {
  /** Per layer: scaling the composed picture down, its AAC, its segments (the video is copied). */
  rungFixed: 0.04,
  /** Decoding the shown tracks, composing, mixing: fixed + per megapixel of the canvas. */
  captureFixed: 0.2,
  capturePerMegapixel: 0.05,
};

const megapixels = (l: { width: number; height: number }) => (l.width * l.height) / 1e6;

/** Cores a ladder needs while live: the capture at its top layer's size plus one x264 per layer. */
export function ladderCost(layers: readonly Layer[], preset: Preset, renderer: Renderer = "browser"): number {
  if (!layers.length) return 0;
  const c = renderer === "compositor" ? COMPOSITOR_COST : COST;
  const capture = c.captureFixed + c.capturePerMegapixel * megapixels(layers[0]);
  return capture + layers.reduce((sum, l) => sum + c.rungFixed + COST.encodePerMegapixel[preset] * megapixels(l), 0);
}

export interface LadderPlan {
  /** What the stream produces, highest first (layer index = position). */
  layers: Layer[];
  /** Requested layers left out because the machine cannot encode them in real time. */
  dropped: Layer[];
  /** Estimated cores for `layers`, and the budget it had. */
  cores: number;
  budget: number;
  /** Why layers were dropped, for the log, the API and the webhook; null when none were. */
  warning: string | null;
}

/**
 * Fits the requested ladder to `budget` cores: while the estimate is over it, the highest layer goes
 * (it is the dearest to capture and to encode) and the next becomes the capture size. The lowest layer is
 * always kept, with a warning if even it does not fit.
 */
export function planLadder(requested: readonly Layer[], budget: number, preset: Preset, renderer: Renderer = "browser"): LadderPlan {
  const cost = (ls: readonly Layer[]) => ladderCost(ls, preset, renderer);
  const layers = [...requested];
  const dropped: Layer[] = [];
  while (layers.length > 1 && cost(layers) > budget) dropped.push(layers.shift()!);
  const cores = cost(layers);
  const name = (l: Layer) => `${l.width}x${l.height}`;
  const parts: string[] = [];
  if (dropped.length) {
    parts.push(
      `this machine has ${budget} cores for live streams: the full ladder needs about ${cost(requested).toFixed(1)}, so ${dropped.map(name).join(", ")} ${dropped.length > 1 ? "are" : "is"} left out; producing ${layers.map(name).join(", ")} (about ${cores.toFixed(1)} cores)`,
    );
  }
  if (cores > budget)
    parts.push(
      `${dropped.length ? "even" : `this machine has ${budget} cores for live streams and`} ${name(layers[0])} alone needs about ${cores.toFixed(1)}; the stream may fall behind real time`,
    );
  const warning = parts.length ? parts.join("; ") : null;
  return { layers, dropped, cores, budget, warning };
}

/**
 * ffmpeg arguments: WebM on stdin → the ladder as live HLS in `dir` (`master.m3u8`, `<i>/index.m3u8`,
 * `<i>/seg-NNNNN.ts`). Event playlists that keep every segment (the VOD is made from them at the end;
 * a `live` playlist's window is applied when it is served), each segment stamped with its wall-clock
 * time (#EXT-X-PROGRAM-DATE-TIME), which is how paused spans are found again.
 */
export function ladderArgs(layers: readonly Layer[], dir: string, preset: Preset): string[] {
  const n = layers.length;
  const split = `[0:v]fps=${FPS},setsar=1,split=${n}${layers.map((_, i) => `[s${i}]`).join("")}`;
  const scales = layers.map(
    (l, i) =>
      `[s${i}]scale=${l.width}:${l.height}:force_original_aspect_ratio=decrease:flags=bilinear,pad=${l.width}:${l.height}:(ow-iw)/2:(oh-ih)/2,format=yuv420p[v${i}]`,
  );
  const args = [...webmPipeInputArgs(), "-filter_complex", [split, ...scales].join(";")];
  layers.forEach((l, i) => {
    args.push(
      "-map",
      `[v${i}]`,
      "-map",
      "0:a",
      `-c:v:${i}`,
      "libx264",
      `-preset:v:${i}`,
      preset,
      `-profile:v:${i}`,
      "main",
      `-b:v:${i}`,
      `${l.videoBitrate}k`,
      `-maxrate:v:${i}`,
      `${Math.round(l.videoBitrate * 1.2)}k`,
      `-bufsize:v:${i}`,
      `${l.videoBitrate * 2}k`,
      `-c:a:${i}`,
      "aac",
      `-b:a:${i}`,
      `${l.audioBitrate}k`,
    );
  });
  args.push(
    "-g",
    String(FPS * SEGMENT_SECONDS),
    "-keyint_min",
    String(FPS * SEGMENT_SECONDS),
    "-sc_threshold",
    "0",
    ...hlsOutputArgs(layers, dir),
  );
  return args;
}

/** The HLS output both ladders share: audio resampled, event playlists, segments stamped with their wall-clock time. */
function hlsOutputArgs(layers: readonly Layer[], dir: string): string[] {
  return [
    "-ar",
    "48000",
    "-ac",
    "2",
    "-f",
    "hls",
    "-hls_time",
    String(SEGMENT_SECONDS),
    "-hls_list_size",
    "0",
    "-hls_playlist_type",
    "event",
    "-hls_flags",
    "program_date_time+independent_segments+temp_file",
    "-master_pl_name",
    "master.m3u8",
    "-var_stream_map",
    layers.map((_, i) => `v:${i},a:${i},name:${i}`).join(" "),
    "-hls_segment_filename",
    `${dir}/%v/seg-%05d.ts`,
    `${dir}/%v/index.m3u8`,
  ];
}

/**
 * The compositor's ladder: it encodes every layer itself (compositorLayers), keyframes aligned every
 * segment; ffmpeg copies each layer's video into its HLS variant and encodes its AAC.
 */
export function ladderCopyArgs(layers: readonly Layer[], dir: string): string[] {
  const args = [...webmPipeInputArgs()];
  layers.forEach((l, i) => {
    args.push("-map", `0:v:${i}`, "-map", "0:a", `-c:v:${i}`, "copy", `-c:a:${i}`, "aac", `-b:a:${i}`, `${l.audioBitrate}k`);
  });
  return [...args, ...hlsOutputArgs(layers, dir)];
}

/** What the compositor encodes for a ladder: each layer at its bitrate, with the ladder's VBV and profile. */
export function compositorLayers(layers: readonly Layer[], preset: Preset): EncodedLayer[] {
  return layers.map((l) => ({
    width: l.width,
    height: l.height,
    kbps: l.videoBitrate,
    maxrate: Math.round(l.videoBitrate * 1.2),
    bufsize: l.videoBitrate * 2,
    profile: "main",
    preset,
  }));
}
