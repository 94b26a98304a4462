import { createHash, randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { buildConcatArgs, buildConcatList, buildSegmentArgs, heardPeers, tilePicture } from "../../media/composite-args.ts";
import { probe, runFfmpeg, type MediaLog } from "../../media/process.ts";
import type { CompositePlan, LayoutSegment } from "./composite-layout.ts";
import { RecordingInputError } from "../core/recording-failure.ts";

// The SFU composite (1280x720 H.264 + AAC): each layout segment is rendered by its own ffmpeg run into
// `workDir`, then the segments are joined by the concat demuxer (video copied, audio encoded once). A
// session composed again (recorders/compose/) is rendered the same way, from its plan: any canvas, the
// live compositor's layouts, a range of the session.
//
// Compose progressively: while the session runs, call renderSegment for the segments that are closed
// (composite-layout's closedSegments); composeSession at the end renders only what is missing. A
// segment's file name is a hash of everything that decides its pixels and samples, so a re-plan that
// yields the same segment finds it done, and one whose input changed renders again. Files appear under
// their final name only once complete (rename), so a crash never leaves a half segment that looks done.
//
// Why PCM in the segments and one AAC encode at the end: with AAC in every segment, each one starts
// with the encoder's priming (1024 samples) and ends padded to a whole frame, and joining them by
// stream copy pushed the audio later at every join. Measured with 3 joins in 12 s: +21, +59, +98,
// +127 ms, cumulative. With sample-exact PCM segments (1600 samples per video frame) the audio stays
// within 1.5 ms of its place across every join (the composite test checks < 3 ms; `npm run bench`
// prints both), and the one AAC encode of the mix is cheap (audio only). The cost is spool space:
// 192 kB/s of PCM (690 MB an hour) until the final join.

export interface SegmentRunOptions {
  workDir: string;
  signal?: AbortSignal;
  log?: MediaLog;
  /** Hard limit per segment run (default 5 min plus 10x the segment's length; the join: none). */
  timeoutMs?: number;
  /** Kill a run whose output has not advanced for this long (default 120 s: seeking far from a keyframe decodes a while). */
  stallTimeoutMs?: number;
  /** Shared cache of the track files' first timestamps (ffprobe), filled as needed. */
  containerStarts?: Map<string, number>;
}

export interface ComposeOptions extends SegmentRunOptions {
  outFile: string;
  /** Segment runs at once (default 1: x264 already uses every core). */
  concurrency?: number;
}

export interface ComposeResult {
  durationSeconds: number;
  sizeBytes: number;
  segments: number;
  /** Segments this call had to render (the others were rendered earlier). */
  rendered: number;
}

const STALL_MS = 120_000;

/** The composite had nothing to show: no segment or no track at all (100ms: INPUT_ERROR). */
export class CompositeInputError extends RecordingInputError {
  override readonly name = "CompositeInputError";
}

/** The segment's file in `workDir`: named by what decides its content. */
export function segmentFile(plan: CompositePlan, segment: LayoutSegment, workDir: string): string {
  const byId = new Map(plan.peers.map((p) => [p.peerId, p]));
  // A screen tile and the heard peers are in the key only when a plan has them (a re-composed session),
  // so the SFU composite's segments keep the names they had.
  const key = JSON.stringify({
    v: 1,
    canvas: plan.canvas,
    frames: [segment.startFrame, segment.endFrame],
    tiles: segment.tiles.map((t) => {
      const p = byId.get(t.peerId);
      const row = [t, p?.name, p?.video?.file, p?.video?.startMs, p?.audio?.file, p?.audio?.startMs];
      return t.source === "screen" ? [...row, p?.screen?.file, p?.screen?.startMs] : row;
    }),
    ...(segment.audioPeers ? { heard: segment.audioPeers.map((id) => [id, byId.get(id)?.audio?.file, byId.get(id)?.audio?.startMs]) } : {}),
  });
  const hash = createHash("sha256").update(key).digest("hex").slice(0, 16);
  return path.join(workDir, `seg-${String(segment.startFrame).padStart(8, "0")}-${hash}.mov`);
}

async function containerStartsFor(plan: CompositePlan, segment: LayoutSegment, o: SegmentRunOptions): Promise<Map<string, number>> {
  const cache = o.containerStarts ?? new Map<string, number>();
  const byId = new Map(plan.peers.map((p) => [p.peerId, p]));
  const tracks = [...segment.tiles.map((t) => tilePicture(t, byId.get(t.peerId))), ...heardPeers(segment).map((id) => byId.get(id)?.audio)];
  for (const track of tracks) {
    if (track && !cache.has(track.file))
      cache.set(track.file, (await probe(track.file, { signal: o.signal, log: o.log })).startTimeSeconds);
  }
  return cache;
}

/** Renders one segment into `workDir` unless it is there already; returns its file. */
export async function renderSegment(
  plan: CompositePlan,
  segment: LayoutSegment,
  o: SegmentRunOptions,
): Promise<{ file: string; rendered: boolean }> {
  const file = segmentFile(plan, segment, o.workDir);
  if (fs.existsSync(file)) return { file, rendered: false };
  fs.mkdirSync(o.workDir, { recursive: true });
  const containerStarts = await containerStartsFor(plan, segment, o);
  const part = `${file}.part-${randomUUID().slice(0, 8)}`; // two callers may render the same segment
  const t0 = performance.now();
  try {
    await runFfmpeg(buildSegmentArgs({ segment, peers: plan.peers, canvas: plan.canvas, out: part, containerStarts }), {
      signal: o.signal,
      log: o.log,
      timeoutMs: o.timeoutMs ?? 300_000 + (segment.endFrame - segment.startFrame) * (10_000 / plan.canvas.fps),
      stallTimeoutMs: o.stallTimeoutMs ?? STALL_MS,
    });
    fs.renameSync(part, file);
  } finally {
    fs.rmSync(part, { force: true });
  }
  o.log?.info(
    {
      start_frame: segment.startFrame,
      end_frame: segment.endFrame,
      tiles: segment.tiles.length,
      wall_ms: Math.round(performance.now() - t0),
    },
    "composite segment rendered",
  );
  return { file, rendered: true };
}

/** Runs `fn` over `items`, `limit` at a time; after a failure starts nothing new, waits for what runs, throws the first error. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failure: { err: unknown } | null = null;
  const worker = async () => {
    while (next < items.length && !failure) {
      const i = next++;
      try {
        out[i] = await fn(items[i]);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw (failure as { err: unknown }).err;
  return out;
}

/** Renders what is missing and joins every segment into `outFile` (written whole, then renamed). */
export async function composeSession(plan: CompositePlan, o: ComposeOptions): Promise<ComposeResult> {
  if (plan.segments.length === 0) throw new CompositeInputError("the session has no length to compose");
  if (!plan.peers.some((p) => p.video || p.audio)) throw new CompositeInputError("no peer has a recorded track");
  const containerStarts = o.containerStarts ?? new Map<string, number>();
  const ac = new AbortController();
  const onAbort = () => ac.abort();
  o.signal?.addEventListener("abort", onAbort, { once: true });
  if (o.signal?.aborted) ac.abort();
  try {
    // The first failure aborts the runs still going and waits for them: no ffmpeg outlives this call.
    const results = await mapLimit(plan.segments, o.concurrency ?? 1, (s) =>
      renderSegment(plan, s, { ...o, containerStarts, signal: ac.signal }).catch((err: unknown) => {
        ac.abort();
        throw err;
      }),
    );
    const listFile = path.join(o.workDir, `concat-${randomUUID().slice(0, 8)}.txt`);
    fs.writeFileSync(listFile, buildConcatList(results.map((r) => path.resolve(r.file))));
    const part = `${o.outFile}.part-${randomUUID().slice(0, 8)}`;
    try {
      await runFfmpeg(buildConcatArgs({ listFile, out: part }), {
        signal: o.signal,
        log: o.log,
        timeoutMs: o.timeoutMs,
        stallTimeoutMs: o.stallTimeoutMs ?? STALL_MS,
      });
      fs.renameSync(part, o.outFile);
    } finally {
      fs.rmSync(part, { force: true });
      fs.rmSync(listFile, { force: true });
    }
    const p = await probe(o.outFile, { signal: o.signal, log: o.log });
    return {
      durationSeconds: p.durationSeconds,
      sizeBytes: p.sizeBytes,
      segments: results.length,
      rendered: results.filter((r) => r.rendered).length,
    };
  } finally {
    o.signal?.removeEventListener("abort", onAbort);
  }
}
