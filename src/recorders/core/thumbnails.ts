import fsp from "node:fs/promises";
import path from "node:path";
import type { AppContext } from "../../app-context.ts";
import type { RecordingRow, RoomRow } from "../../db/schema.ts";
import type { UploadConfig } from "../../domain/upload-config.ts";
import { buildThumbnailArgs, planThumbnails, type ThumbnailConfig } from "../../media/thumbnail-args.ts";
import { probe, runFfmpeg, type RunOptions } from "../../media/process.ts";
import { getTemplate, templateParts } from "../../templates/template.service.ts";
import { isPlainObject, type Json } from "../../util/json.ts";
import { uploadRecording } from "./upload.ts";

// Thumbnails of a finished recording (live stream or browser recording), as 100ms describes them: the
// template's `thumbnails` object (`{enabled, width, height, offsets, fps}`, on
// `hlsDestinations.<name>.recording`, `browserRecordings.<name>` or `recordings[0]`) picks the offsets
// and size; the images are PNG, uploaded next to the recording, listed in the recording asset's
// `thumbnails` (paths) and sent in the success webhook as `recording_thumbnails`:
// `[{width, height, offset, location, url}]` (`location` the storage path, `url` presigned).
// A thumbnail is never worth a recording: any failure here is logged and answered with no thumbnails.

/** 100ms's `recording_thumbnails` entry. */
export interface RecordingThumbnail {
  width: number;
  height: number;
  /** Seconds from the recording's start. */
  offset: number;
  /** The storage path (`s3://bucket/prefix/…png`). */
  location: string;
  /** Presigned link to the image. */
  url: string;
}

export interface Thumbnails {
  thumbnails: RecordingThumbnail[];
  /** Why there are none (turned off, or what failed); null when made. */
  skipped: string | null;
}

/** Making the images of a long recording takes a few seconds; one that hangs is killed after this long. */
const THUMBNAIL_TIMEOUT_MS = 120_000;

const configOf = (v: unknown): ThumbnailConfig | null =>
  isPlainObject(v) && isPlainObject(v.thumbnails) ? (v.thumbnails as ThumbnailConfig) : null;

/** The one named entry of a destinations map, or its only entry when the recording names none. */
function entry(map: unknown, name: string): Json | null {
  if (!isPlainObject(map)) return null;
  if (name) return Object.hasOwn(map, name) && isPlainObject(map[name]) ? (map[name] as Json) : null;
  const names = Object.keys(map);
  return names.length === 1 && isPlainObject(map[names[0]]) ? (map[names[0]] as Json) : null;
}

/**
 * The template's `thumbnails` for this recording, read when it finishes: a live stream's from its
 * `hlsDestinations` entry's `recording`; a browser recording's from its `browserRecordings` entry, else
 * the template's `recordings[0]`. Null when the template has none (defaults apply).
 */
export async function thumbnailConfig(ctx: Pick<AppContext, "db">, room: RoomRow, rec: RecordingRow): Promise<ThumbnailConfig | null> {
  const parts = templateParts(await getTemplate(ctx.db, room.template_id));
  const dests = parts.destinations;
  if (rec.kind === "hls") {
    const dest = entry(isPlainObject(dests) ? dests.hlsDestinations : null, rec.destination);
    return configOf(dest && isPlainObject(dest.recording) ? dest.recording : null);
  }
  const dest = entry(isPlainObject(dests) ? dests.browserRecordings : null, rec.destination);
  return configOf(dest) ?? configOf(Array.isArray(parts.recordings) ? parts.recordings[0] : null);
}

/**
 * Makes the thumbnails of `input` (an MP4 or a VOD playlist) in one ffmpeg run into `dir`, uploads each
 * to `pathFor(offset)` and presigns it. Never throws (except when `signal` aborts the job): a failure is
 * logged and gives no thumbnails, with the reason in `skipped`.
 */
export async function makeThumbnails(
  ctx: Pick<AppContext, "db" | "storage" | "identity">,
  o: {
    room: RoomRow;
    rec: RecordingRow;
    input: string;
    durationSeconds: number;
    dir: string;
    dest: UploadConfig | null;
    pathFor: (offset: number) => string;
  } & Pick<RunOptions, "signal" | "log">,
): Promise<Thumbnails> {
  let config: ThumbnailConfig | null = null;
  try {
    config = await thumbnailConfig(ctx, o.room, o.rec);
    const plan = planThumbnails(config, o.durationSeconds);
    if (!plan) return { thumbnails: [], skipped: "thumbnails are turned off (thumbnails.enabled is false)" };
    await fsp.mkdir(o.dir, { recursive: true });
    const files = plan.offsets.map((offset) => path.join(o.dir, `thumbnail-${offset}.png`));
    await runFfmpeg(buildThumbnailArgs(o.input, plan, files), { signal: o.signal, log: o.log, timeoutMs: THUMBNAIL_TIMEOUT_MS });
    const thumbnails: RecordingThumbnail[] = [];
    for (const [i, offset] of plan.offsets.entries()) {
      const p = await probe(files[i], { signal: o.signal, log: o.log, timeoutMs: 30_000 });
      const v = p.streams.find((s) => s.codec_type === "video");
      if (!v?.width || !v.height) throw new Error(`thumbnail at ${offset} s is not an image ffprobe can read`);
      const up = await uploadRecording(ctx, o.dest, o.pathFor(offset), files[i], "image/png");
      thumbnails.push({ width: v.width, height: v.height, offset, location: up.path, url: up.url });
    }
    o.log?.info({ recording_id: o.rec.id, count: thumbnails.length, offsets: plan.offsets }, "recording thumbnails uploaded");
    return { thumbnails, skipped: null };
  } catch (err) {
    if (o.signal?.aborted) throw err;
    const message = (err as Error).message;
    o.log?.warn(
      { recording_id: o.rec.id, err: message, config },
      "could not make the recording's thumbnails; the recording is delivered without them (recording_thumbnails is empty)",
    );
    return { thumbnails: [], skipped: message };
  } finally {
    await fsp.rm(o.dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
