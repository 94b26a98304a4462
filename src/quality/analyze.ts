import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import type { Readable } from "node:stream";
import { type MediaLog, MediaProcessError, probe, runFfmpeg } from "../media/process.ts";
import { type AnalysisOutputs, AUDIO_WINDOW_SECONDS, buildAnalysisArgs, MIN_SPAN_SECONDS } from "./analysis-args.ts";
import { AV_OFFSET_METHOD, type AvPair, offsetTimeline, pairEvents, pictureChanges, soundOnsets, steadyOffset } from "./av-offset.ts";
import { type PacketListing, packetListingReader, printedFrameReader, readDb } from "./ffmpeg-output.ts";
import { gradeReport } from "./grade.ts";
import { frameStep, joinTouching, type PictureMeasure } from "./picture.ts";
import type { GapSpan, QualityReport, Span, TrackQuality, UngradedReport } from "./report.ts";
import { medianStep, round3 } from "./spans.ts";

// The quality report of one finished media file (an MP4 or a WebM/MKV; either stream may be absent):
// a header probe, then one ffmpeg run that decodes the file once and lists its packets
// (analysis-args.ts), its printed output read back (ffmpeg-output.ts) into spans, timelines and the
// A/V offset (av-offset.ts), graded by grade.ts. The caller's gaps, SFU track counts and live encoder
// lag go into the report as given, and the grade counts them.

export type { GapSpan, QualityGrade, QualityReport, Span, TrackQuality } from "./report.ts";
export { gradeReport, QUALITY_RULE, QUALITY_THRESHOLDS } from "./grade.ts";

export interface AnalyzeOptions {
  signal?: AbortSignal;
  log?: MediaLog;
  /** Where media is missing, as the caller knows it (a publisher's outage, a restart). */
  gaps?: GapSpan[];
  /** The SFU's counts of the recorded tracks. */
  tracks?: TrackQuality[];
  live?: QualityReport["live"];
  /** The file should have a picture: none is then bad. */
  expectVideo?: boolean;
  /** The file should have sound: none is then bad. */
  expectAudio?: boolean;
  /**
   * The file is still being written: it is read as it grows (this gives a reader of it from its start,
   * which ends once the writer is done), so the report is ready moments after the file is. Its header
   * must be written already. Without it, a failure of one stream fails the whole analysis.
   */
  follow?: () => Readable;
  /**
   * The picture, already measured (a file made in pieces, each measured as it was made: picture.ts):
   * the pass then decodes only the sound and lists the packets.
   */
  picture?: PictureMeasure | null;
}

/** A run is killed when its output time stops advancing for this long (a stuck decoder); a long file has no limit. */
const STALL_MS = 60_000;
/**
 * A window whose peak is this close to full scale (dBFS) clipped. A clipped signal, once through a
 * lossy codec (AAC, Opus), peaks within about half a dB of the ceiling, a little under or over it; a
 * well-levelled voice stays several dB below.
 */
export const CLIPPING_PEAK_DB = -0.5;
/** Clipped windows this close (s) are one clipped stretch: a clipped sound misses the ceiling in some windows of it. */
export const CLIPPING_JOIN_SECONDS = 0.05;

/** What the run measured, read back from its output files. */
interface Measured {
  picture: PictureMeasure;
  /** Each audio window's start, peak and RMS level (dBFS). */
  levels: { t: number[]; peakDb: number[]; rmsDb: number[] };
  silence: SpanCollector;
  packets: PacketListing | null;
}
type SpanCollector = ReturnType<typeof spanCollector>;

/** Measures `file` and grades it (see QualityReport). Rejects with a MediaProcessError when it cannot be read at all. */
export async function analyzeMedia(file: string, o: AnalyzeOptions = {}): Promise<QualityReport> {
  const started = performance.now();
  const input = path.resolve(file); // absolute: a name with a colon is not taken for a protocol
  const info = await probe(input, { signal: o.signal, log: o.log });
  const videoStream = info.streams.find((s) => s.codec_type === "video");
  const audioStream = info.streams.find((s) => s.codec_type === "audio");
  const m = await measure(
    input,
    { video: !!videoStream && !o.picture, audio: audioStream ? { sampleRate: audioStream.sample_rate || 48_000 } : null },
    o,
  );
  const pic = o.picture ?? m.picture;

  const hasVideo = pic.t.length > 0;
  const hasAudio = m.levels.t.length > 0;
  const windowSeconds = hasAudio ? medianStep(m.levels.t, AUDIO_WINDOW_SECONDS) : 0;
  const videoEnd = hasVideo ? pic.end : 0;
  const audioEnd = hasAudio ? m.levels.t.at(-1)! + windowSeconds : 0;
  // A file followed as it was written was probed at its start: its header's length is of the first
  // fragment (a second, or nothing), so its length is where its media ended.
  const measuredEnd = Math.max(videoEnd, audioEnd);
  const duration =
    info.durationSeconds > 0 && !o.follow ? info.durationSeconds : measuredEnd > 0 ? measuredEnd : (m.packets?.bytesPerSecond.length ?? 0);
  const seconds = Math.max(0, Math.ceil(duration - 1e-3));

  const long = (s: Span) => s.end - s.start >= MIN_SPAN_SECONDS;
  const black = pic.black.filter(long);
  // A black picture is also a still one: it is reported once, as black.
  const frozen = pic.frozen.filter(long).filter((f) => !black.some((b) => b.start - 0.1 <= f.start && f.end <= b.end + 0.1));
  const pairs: AvPair[] =
    hasVideo && hasAudio ? pairEvents(pictureChanges(pic.t, pic.y), soundOnsets(m.levels.t, m.levels.rmsDb, windowSeconds)) : [];
  const missing = !hasVideo && !hasAudio ? "neither picture nor sound" : !hasVideo ? "no picture" : "no sound";
  const offset = hasVideo && hasAudio ? steadyOffset(pairs) : { ms: null, note: `there is ${missing} to measure it from` };

  const ungraded: UngradedReport = {
    version: 1,
    file: {
      duration: round3(duration),
      video: hasVideo ? { width: videoStream?.width ?? 0, height: videoStream?.height ?? 0, fps: nominalFps(m.packets, pic) } : null,
      audio: hasAudio ? { sample_rate: audioStream?.sample_rate ?? 0, channels: m.packets?.audioChannels ?? 0 } : null,
    },
    timeline: {
      fps: hasVideo ? perSecond(pic.t, seconds) : [],
      bitrate_kbps: bitrate(m.packets, seconds),
      av_offset_ms: offsetTimeline(pairs, seconds),
    },
    spans: {
      frozen: frozen.map(rounded),
      black: black.map(rounded),
      silence: m.silence.close(audioEnd).map(rounded),
      clipping: clippingSpans(m.levels, windowSeconds).map(rounded),
      gaps: (o.gaps ?? []).map((g) => ({ ...rounded(g), reason: g.reason })),
    },
    av_offset: { ms: offset.ms, events: pairs.length, method: AV_OFFSET_METHOD, ...(offset.note ? { note: offset.note } : {}) },
    ...(o.tracks ? { tracks: o.tracks } : {}),
    ...(o.live ? { live: o.live } : {}),
    analysis: { seconds: round3((performance.now() - started) / 1000) },
  };
  const { grade, reasons, rule } = gradeReport(ungraded, { video: o.expectVideo, audio: o.expectAudio });
  const { version, file: f, ...measured } = ungraded;
  return { version, file: f, grade, reasons, rule, ...measured };
}

/**
 * The picture of one piece of a file made in pieces (picture.ts): its frames' times and luma, and its
 * still and black stretches of any length (down to FREEZE_SECONDS), so the pieces' measures can be joined.
 */
export async function measurePicture(file: string, o: { signal?: AbortSignal; log?: MediaLog } = {}): Promise<PictureMeasure> {
  return (await measure(path.resolve(file), { video: true, audio: null, packets: false }, o)).picture;
}

/** Runs the analysis pass (in a folder of its own) and reads what it wrote. */
async function measure(
  input: string,
  want: { video: boolean; audio: { sampleRate: number } | null; packets?: boolean },
  o: Pick<AnalyzeOptions, "signal" | "log" | "follow">,
): Promise<Measured> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "tapedeck-quality-"));
  try {
    return await measureIn(dir, input, want, o);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

async function measureIn(
  dir: string,
  input: string,
  want: { video: boolean; audio: { sampleRate: number } | null; packets?: boolean },
  o: Pick<AnalyzeOptions, "signal" | "log" | "follow">,
): Promise<Measured> {
  const out: AnalysisOutputs = {
    events: path.join(dir, "events.txt"),
    luma: path.join(dir, "luma.txt"),
    levels: path.join(dir, "levels.txt"),
    packets: path.join(dir, "packets.txt"),
  };
  // A file followed as it is written may not grow for a long while (a paused recording): no stall limit then.
  const run = (part: { video: boolean; audio: { sampleRate: number } | null }, packets: boolean) => {
    const args = { ...part, packets };
    return o.follow
      ? runFfmpeg(buildAnalysisArgs("pipe:0", args, out), { signal: o.signal, log: o.log, stdin: o.follow() })
      : runFfmpeg(buildAnalysisArgs(input, args, out), { signal: o.signal, log: o.log, stallTimeoutMs: STALL_MS });
  };
  const packets = want.packets ?? true;
  if (want.video || want.audio || packets) {
    try {
      await run(want, packets);
    } catch (err) {
      if (!(err instanceof MediaProcessError && err.code === "media_failed" && want.video && want.audio) || o.follow) throw err;
      // ffmpeg gives up on the whole graph when one stream cannot be decoded at all: each on its own,
      // so the other is still measured (and the one that failed is reported missing).
      o.log?.warn({ file: input, err: err.message }, "quality analysis: measuring the picture and the sound apart");
      for (const f of Object.values(out)) await fsp.rm(f, { force: true });
      let list = packets;
      for (const part of [
        { video: true, audio: null },
        { video: false, audio: want.audio },
      ]) {
        try {
          await run(part, list);
          list = false;
        } catch (e) {
          if (!(e instanceof MediaProcessError && e.code === "media_failed")) throw e;
          o.log?.warn({ file: input, err: e.message }, `quality analysis: the ${part.video ? "picture" : "sound"} could not be decoded`);
        }
      }
    }
  }
  return readOutputs(out);
}

async function readOutputs(out: AnalysisOutputs): Promise<Measured> {
  const m: Measured = {
    picture: { version: 1, t: [], y: [], frozen: [], black: [], end: 0 },
    levels: { t: [], peakDb: [], rmsDb: [] },
    silence: spanCollector("lavfi.silence_start", "lavfi.silence_end"),
    packets: null,
  };
  const pic = m.picture;
  const luma = printedFrameReader((f) => {
    pic.t.push(f.t);
    pic.y.push(Number(f.tags["lavfi.signalstats.YAVG"]));
  });
  await readLines(out.luma, luma.line);
  luma.end();
  pic.end = pic.t.length ? pic.t.at(-1)! + frameStep(pic.t) : 0;

  const frozen = spanCollector("lavfi.freezedetect.freeze_start", "lavfi.freezedetect.freeze_end");
  const black = spanCollector("lavfi.black_start", "lavfi.black_end");
  const events = printedFrameReader((f) => {
    frozen.frame(f.tags);
    black.frame(f.tags);
  });
  await readLines(out.events, events.line);
  events.end();
  pic.frozen = joinTouching(frozen.close(pic.end), pic, true);
  pic.black = joinTouching(black.close(pic.end), pic, false);

  const levels = printedFrameReader((f) => {
    m.levels.t.push(f.t);
    m.levels.peakDb.push(readDb(f.tags["lavfi.astats.Overall.Peak_level"]));
    m.levels.rmsDb.push(readDb(f.tags["lavfi.astats.Overall.RMS_level"]));
    m.silence.frame(f.tags);
  });
  await readLines(out.levels, levels.line);
  levels.end();

  if (fs.existsSync(out.packets)) {
    const packets = packetListingReader();
    await readLines(out.packets, packets.line);
    m.packets = packets.result();
  }
  return m;
}

async function readLines(file: string, each: (line: string) => void): Promise<void> {
  if (!fs.existsSync(file)) return;
  const lines = readline.createInterface({ input: fs.createReadStream(file, { encoding: "utf8" }), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const l of lines) each(l);
}

/**
 * Spans from detector metadata: a start key opens one (its value is when it started), an end key
 * closes it. `close(end)` gives them all, with one still open at the end of the stream closed there
 * (the detectors say nothing at the end of the stream).
 */
function spanCollector(startKey: string, endKey: string): { frame(tags: Record<string, string>): void; close(end: number): Span[] } {
  const spans: Span[] = [];
  let open: number | null = null;
  return {
    frame(tags) {
      const [start, end] = [tags[startKey], tags[endKey]];
      // Both on one frame: a span that began and ended there (freezedetect says both when a still
      // picture ends just as it reaches its minimum), unless one was open: that one ends, and the start
      // opens the next only if it is later.
      if (start !== undefined && open === null) {
        open = Number(start);
        if (end !== undefined) {
          spans.push({ start: open, end: Number(end) });
          open = null;
        }
        return;
      }
      if (end !== undefined && open !== null) {
        spans.push({ start: open, end: Number(end) });
        open = null;
        if (start !== undefined && Number(start) >= Number(end)) open = Number(start);
      }
    },
    close(end) {
      const all = open !== null && end > open ? [...spans, { start: open, end }] : spans;
      return all.filter((s) => Number.isFinite(s.start) && Number.isFinite(s.end) && s.end > s.start);
    },
  };
}

const rounded = (s: Span): Span => ({ start: round3(s.start), end: round3(s.end) });

/** How many of the times fall in each second [i, i+1) of `seconds` (later ones count in the last). */
function perSecond(t: readonly number[], seconds: number): number[] {
  const out = new Array<number>(seconds).fill(0);
  if (seconds > 0) for (const x of t) out[Math.min(seconds - 1, Math.max(0, Math.floor(x)))]++;
  return out;
}

/**
 * The nominal frame rate: the average over the video stream (frames between the first and the last,
 * over the time between them; ffprobe's avg_frame_rate for an MP4), rounded. From the packets when
 * they were listed, else from the decoded frames.
 */
function nominalFps(packets: PacketListing | null, pic: PictureMeasure): number {
  const v = packets?.video;
  const [n, span] = v && v.packets > 1 ? [v.packets, v.last - v.first] : [pic.t.length, (pic.t.at(-1) ?? 0) - (pic.t[0] ?? 0)];
  return n > 1 && span > 0 ? Math.round((n - 1) / span) : 0;
}

/** kbps per second of `seconds` (bytes past the last second count in it). */
function bitrate(packets: PacketListing | null, seconds: number): number[] {
  const out = new Array<number>(seconds).fill(0);
  if (!packets || seconds === 0) return [];
  packets.bytesPerSecond.forEach((bytes, i) => (out[Math.min(i, seconds - 1)] += bytes));
  return out.map((bytes) => Math.round((bytes * 8) / 100) / 10);
}

/** Windows whose peak reached full scale, those close together joined. */
function clippingSpans(levels: Measured["levels"], windowSeconds: number): Span[] {
  const spans: Span[] = [];
  levels.t.forEach((t, k) => {
    if (!(levels.peakDb[k] >= CLIPPING_PEAK_DB)) return;
    const last = spans.at(-1);
    if (last && t - last.end <= CLIPPING_JOIN_SECONDS + windowSeconds / 2) last.end = t + windowSeconds;
    else spans.push({ start: t, end: t + windowSeconds });
  });
  return spans;
}
