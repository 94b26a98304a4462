import { randomUUID } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { ZipFile } from "yazl";
import { buildConcatList } from "../../media/composite-args.ts";
import { type MediaPlaylist, type MediaSegment, parseMasterPlaylist, parseMediaPlaylist, type Variant } from "../../media/hls-playlist.ts";
import { runFfmpeg, type RunOptions } from "../../media/process.ts";
import type { PausedSpan } from "../core/known-gaps.ts";

// A live HLS stream turned into a video-on-demand one, with the paused spans cut out.
//
// ffmpeg writes the live stream as `<liveDir>/master.m3u8` (`-master_pl_name`) and one EVENT playlist
// per variant, `<liveDir>/<i>/index.m3u8` (`-hls_list_size 0`: every segment stays listed, each with its
// #EXT-X-PROGRAM-DATE-TIME). A segment is kept unless the middle of its wall-clock span falls in a
// paused span; where segments were dropped the VOD playlist says #EXT-X-DISCONTINUITY, so players
// reset their timestamps there instead of waiting out the gap. The kept segments are hard-linked (or
// copied) into the VOD folder under the same relative URIs: ffmpeg never rewrites a finished segment
// (`temp_file` writes `.tmp` and renames), so a link is as good as a copy and costs no disk.
//
// The same kept segments make the downloads: a zip of the whole VOD folder, and one MP4 per variant
// remuxed (never re-encoded) with the concat demuxer, which lays each file right after the previous
// one, so the paused spans leave no gap in the MP4's timeline either.
//
// Only what ffmpeg's MPEG-TS HLS output holds is carried over: no byte ranges, keys or init sections.

/** A span in which the recording was paused, in epoch ms; `to` null: still paused at the end. */
export type { PausedSpan };

export interface VodVariant {
  /** Its place in the master playlist. */
  index: number;
  width: number;
  height: number;
  /** Its playlist, relative to outDir (the master's URI: `0/index.m3u8`). */
  playlist: string;
  segments: number;
  durationSeconds: number;
  /** Its kept segments in order, relative to outDir (what `layerMp4` takes). */
  segmentFiles: string[];
  /** Where each pause cut it (seconds into it). */
  pauses: PauseCut[];
}

export interface VodResult {
  variants: VodVariant[];
  /** Every file written, relative to outDir: master.m3u8, then each variant's playlist and segments. */
  files: string[];
}

/**
 * The segments a recording keeps: those whose middle is not in a paused span (a segment without a
 * date is kept). The first one kept after dropped ones is marked as a discontinuity, unless nothing
 * was kept before it (then there is no join to mark).
 */
export function recordedSegments(segments: MediaSegment[], paused: PausedSpan[]): MediaSegment[] {
  const kept: MediaSegment[] = [];
  let dropped = false;
  for (const s of segments) {
    if (pauseOf(s, paused)) dropped = true;
    else {
      kept.push({ ...s, discontinuity: s.discontinuity || (dropped && kept.length > 0) });
      dropped = false;
    }
  }
  return kept;
}

/** The paused span a segment's middle falls in (it is dropped), or null (kept; a segment without a date is). */
function pauseOf(s: MediaSegment, paused: readonly PausedSpan[]): PausedSpan | null {
  if (s.programDateTimeMs === null) return null;
  const middle = s.programDateTimeMs + (s.duration * 1000) / 2;
  return paused.find((p) => p.from <= middle && middle < (p.to ?? Infinity)) ?? null;
}

/** Where a pause cut a variant's recording (its quality report lists it there). */
export interface PauseCut {
  /** Seconds into the recording: the kept segments before the first one the pause dropped. */
  at: number;
  pause: PausedSpan;
  /** No segment was kept after it: the recording ends there. */
  toEnd: boolean;
}

/**
 * The pauses that dropped segments, each where the recording was cut: what the kept segments before it
 * last (the layer MP4 lays them end to end). A pause shorter than a segment may drop none: it cut nothing.
 */
export function pauseCuts(segments: MediaSegment[], paused: PausedSpan[]): PauseCut[] {
  const cuts = new Map<PausedSpan, PauseCut>();
  let kept = 0;
  for (const s of segments) {
    const p = pauseOf(s, paused);
    if (!p) kept += s.duration;
    else if (!cuts.has(p)) cuts.set(p, { at: kept, pause: p, toEnd: false });
  }
  // The same sums in the same order: a cut with nothing kept after it is at the total exactly.
  return [...cuts.values()].map((c) => ({ ...c, at: Math.round(c.at * 1000) / 1000, toEnd: c.at >= kept }));
}

/**
 * A relative URI as a normalised relative path; throws when it could lead outside its folder
 * (absolute, a URL, a drive letter, or any `..` part).
 */
function safeRelative(uri: string, what: string): string {
  if (uri === "" || uri.startsWith("/") || uri.startsWith("\\") || /^[a-z][a-z0-9+.-]*:/i.test(uri)) {
    throw new Error(`${what}: refusing ${JSON.stringify(uri)}: not a relative path`);
  }
  if (uri.split(/[\\/]/).includes("..")) throw new Error(`${what}: refusing ${JSON.stringify(uri)}: it contains ".."`);
  return path.posix.normalize(uri);
}

/** `file`'s real path (symlinks followed); throws when it is missing or not inside `realDir`. */
async function realInside(realDir: string, file: string, what: string): Promise<string> {
  const real = await fsp.realpath(file).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${what}: ${file} is missing (${err.code ?? err.message})`, { cause: err });
  });
  if (!real.startsWith(realDir + path.sep)) throw new Error(`${what}: refusing ${file}: it resolves outside ${realDir}`);
  return real;
}

/** Hard-links `from` to `to` (replacing `to`), or copies it where links are not possible. */
async function linkOrCopy(from: string, to: string): Promise<void> {
  await fsp.rm(to, { force: true });
  await fsp.link(from, to).catch(() => fsp.copyFile(from, to));
}

const extinf = (d: number): string => `#EXTINF:${d.toFixed(6)},`;

/** Timed metadata sent to a stream (POST /v2/live-streams/:id/timed-metadata), as kept in live_stream_metadata. */
export interface TimedMetadata {
  id: string;
  payload: string;
  /** Seconds. */
  duration: number;
  /** ISO time it was sent: where it sits on the stream's wall clock. */
  created_at: string;
}

/** The #EXT-X-DATERANGE line of one timed metadata entry, in the live playlists and the VOD alike. */
export const dateRangeTag = (m: TimedMetadata): string =>
  `#EXT-X-DATERANGE:ID="${m.id}",CLASS="com.tapedeck.timed-metadata",START-DATE="${m.created_at}",DURATION=${m.duration},X-PAYLOAD="${encodeURIComponent(m.payload)}"`;

/** The entries whose span overlaps a kept (dated) segment: metadata sent while the recording was paused is left out with it. */
export function recordedMetadata(metadata: TimedMetadata[], kept: MediaSegment[]): TimedMetadata[] {
  return metadata.filter((m) => {
    const from = Date.parse(m.created_at);
    const to = from + m.duration * 1000;
    return kept.some((s) => s.programDateTimeMs !== null && from < s.programDateTimeMs + s.duration * 1000 && to > s.programDateTimeMs);
  });
}

/** A VOD media playlist of `segments` (with their dates, and a discontinuity where spans were dropped) and its timed metadata. */
function vodPlaylist(source: MediaPlaylist, segments: MediaSegment[], metadata: TimedMetadata[]): string {
  const out = [
    "#EXTM3U",
    `#EXT-X-VERSION:${Math.max(3, source.version)}`,
    `#EXT-X-TARGETDURATION:${Math.max(1, Math.ceil(Math.max(...segments.map((s) => s.duration))))}`,
    "#EXT-X-MEDIA-SEQUENCE:0",
    "#EXT-X-PLAYLIST-TYPE:VOD",
    ...(source.independentSegments ? ["#EXT-X-INDEPENDENT-SEGMENTS"] : []),
    ...recordedMetadata(metadata, segments).map(dateRangeTag),
  ];
  for (const s of segments) {
    if (s.discontinuity) out.push("#EXT-X-DISCONTINUITY");
    if (s.programDateTimeMs !== null) out.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(s.programDateTimeMs).toISOString()}`);
    out.push(extinf(s.duration), s.uri);
  }
  out.push("#EXT-X-ENDLIST");
  return `${out.join("\n")}\n`;
}

interface PlannedVariant {
  variant: Variant;
  index: number;
  /** Its playlist's path relative to the live (and the VOD) folder. */
  playlist: string;
  source: MediaPlaylist;
  kept: MediaSegment[];
  /** Real paths of the kept segments, in order. */
  from: string[];
}

/** Reads, filters and checks one variant; nothing is written. */
async function planVariant(liveDir: string, variant: Variant, index: number, paused: PausedSpan[]): Promise<PlannedVariant> {
  const name = `variant ${index} (${variant.uri})`;
  const uri = safeRelative(variant.uri, `master.m3u8, ${name}`);
  const file = path.join(liveDir, uri);
  const text = await fsp.readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${name}: cannot read its playlist ${file} (${err.code ?? err.message})`, { cause: err });
  });
  const source = parseMediaPlaylist(text);
  const kept = recordedSegments(source.segments, paused).map((s) => ({ ...s, uri: safeRelative(s.uri, name) }));
  if (kept.length === 0) throw new Error(`${name}: no segment left to keep (${source.segments.length} listed, all paused or none)`);
  const folder = path.dirname(file);
  const realFolder = await fsp.realpath(folder);
  const from = await Promise.all(kept.map((s) => realInside(realFolder, path.join(folder, s.uri), name)));
  return { variant, index, playlist: uri, source, kept, from };
}

/**
 * Writes into `outDir` a complete VOD of the live stream in `liveDir` without the paused spans: the
 * master playlist (same variants and URIs, BANDWIDTH measured on the kept segments), each variant's
 * VOD playlist (with the timed metadata of the kept spans as #EXT-X-DATERANGE), and the kept
 * segments. Every variant is read and checked before anything is written; files already in `outDir`
 * under the same names are replaced.
 */
export async function buildVod(liveDir: string, outDir: string, paused: PausedSpan[], metadata: TimedMetadata[] = []): Promise<VodResult> {
  if (path.resolve(liveDir) === path.resolve(outDir)) throw new Error(`the VOD folder cannot be the live folder (${liveDir})`);
  const masterFile = path.join(liveDir, "master.m3u8");
  const master = await fsp.readFile(masterFile, "utf8").catch((err: NodeJS.ErrnoException) => {
    throw new Error(`cannot read the master playlist ${masterFile} (${err.code ?? err.message})`, { cause: err });
  });
  const variants = parseMasterPlaylist(master);
  if (variants.length === 0) throw new Error(`${masterFile} lists no variant`);
  const plans = await Promise.all(variants.map((v, i) => planVariant(liveDir, v, i, paused)));

  const files = ["master.m3u8"];
  const results: VodVariant[] = [];
  const masterOut = ["#EXTM3U", "#EXT-X-VERSION:3"];
  for (const p of plans) {
    const playlist = p.playlist;
    const folder = path.posix.dirname(playlist);
    const segmentFiles = p.kept.map((s) => path.posix.join(folder, s.uri));
    let peak = 0;
    let bytes = 0;
    for (const [i, rel] of segmentFiles.entries()) {
      const to = path.join(outDir, rel);
      await fsp.mkdir(path.dirname(to), { recursive: true });
      await linkOrCopy(p.from[i], to);
      const size = (await fsp.stat(to)).size;
      bytes += size;
      if (p.kept[i].duration > 0) peak = Math.max(peak, (size * 8) / p.kept[i].duration);
    }
    await fsp.writeFile(path.join(outDir, playlist), vodPlaylist(p.source, p.kept, metadata));
    files.push(playlist, ...segmentFiles);

    const seconds = p.kept.reduce((sum, s) => sum + s.duration, 0);
    const attrs = [`BANDWIDTH=${Math.ceil(peak)}`, `AVERAGE-BANDWIDTH=${Math.ceil(seconds > 0 ? (bytes * 8) / seconds : 0)}`];
    if (p.variant.width && p.variant.height) attrs.push(`RESOLUTION=${p.variant.width}x${p.variant.height}`);
    if (p.variant.codecs) attrs.push(`CODECS="${p.variant.codecs}"`);
    masterOut.push(`#EXT-X-STREAM-INF:${attrs.join(",")}`, playlist);
    results.push({
      index: p.index,
      width: p.variant.width,
      height: p.variant.height,
      playlist,
      segments: p.kept.length,
      durationSeconds: Math.round(seconds * 1000) / 1000,
      segmentFiles,
      pauses: pauseCuts(p.source.segments, paused),
    });
  }
  await fsp.writeFile(path.join(outDir, "master.m3u8"), `${masterOut.join("\n")}\n`);
  return { variants: results, files };
}

/**
 * Zips `files` (relative to `outDir`, kept as the entry names) into `zipFile` (written whole, then
 * renamed into place) and returns its size. Segments are stored as they are (already compressed);
 * playlists are deflated.
 */
export async function zipVod(outDir: string, zipFile: string, files: string[]): Promise<number> {
  const part = `${zipFile}.part-${randomUUID().slice(0, 8)}`;
  const zip = new ZipFile();
  // yazl reports a file it cannot read on the ZipFile, not on its output stream (which then never ends).
  const failed = new Promise<never>((_, reject) => zip.once("error", reject));
  failed.catch(() => {}); // observed through the race below
  try {
    for (const f of files) {
      const rel = safeRelative(f, "zip");
      zip.addFile(path.join(outDir, rel), rel, { compress: rel.endsWith(".m3u8") });
    }
    zip.end();
    const written = pipeline(zip.outputStream, fs.createWriteStream(part));
    written.catch(() => {}); // settled through the race below
    await Promise.race([written, failed]).catch((err: unknown) => {
      (zip.outputStream as Readable).destroy();
      throw err;
    });
    await fsp.rename(part, zipFile);
  } finally {
    await fsp.rm(part, { force: true });
  }
  return (await fsp.stat(zipFile)).size;
}

/**
 * One MP4 of a variant's kept segments (`segments`: relative to `outDir`, in order), remuxed without
 * re-encoding: the concat demuxer places each segment right after the previous one, so the dropped
 * spans leave no gap. Written whole, then renamed into place. A failed ffmpeg run throws its
 * MediaProcessError (exit status and ffmpeg's last stderr lines).
 */
export async function layerMp4(
  outDir: string,
  variantIndex: number,
  segments: string[],
  mp4File: string,
  run: Omit<RunOptions, "onProgress"> = {},
): Promise<void> {
  if (segments.length === 0) throw new Error(`variant ${variantIndex}: no segment to put in the MP4`);
  const files = segments.map((s) => path.resolve(outDir, safeRelative(s, `variant ${variantIndex}`)));
  const id = randomUUID().slice(0, 8);
  const list = `${mp4File}.concat-${id}.txt`;
  const part = `${mp4File}.part-${id}`;
  try {
    await fsp.writeFile(list, buildConcatList(files));
    await runFfmpeg(
      [
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-y",
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
        list,
        "-map",
        "0:v:0?",
        "-map",
        "0:a:0?",
        "-c",
        "copy",
        "-bsf:a",
        "aac_adtstoasc",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        part,
      ],
      { stallTimeoutMs: 120_000, ...run },
    );
    await fsp.rename(part, mp4File);
  } finally {
    await Promise.all([fsp.rm(list, { force: true }), fsp.rm(part, { force: true })]);
  }
}
