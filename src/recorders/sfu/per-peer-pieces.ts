import { createHash, randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { buildConcatList } from "../../media/composite-args.ts";
import { buildVideoPieceArgs, PIECE_FPS } from "../../media/per-peer-args.ts";
import { MediaProcessError, probe, runFfmpeg, type MediaLog } from "../../media/process.ts";

// A per-peer MP4 needs its VP8 camera as H.264. Transcoded whole after the close, a long session's
// streams took minutes; so while the session runs, each such track is transcoded in pieces as it is
// written (the `composite-progress` tick, session-recording.job.ts), and at the close only its tail is
// left. The pieces are cut at the session's chunk boundaries (where the SFU asks publishers for a
// keyframe, so a piece's seek decodes little), at whole frames of the track at 30 fps from its first
// frame: piece [a, b) is frames a..b-1 of what a whole transcode makes (the first piece also carries the
// black frames that put the video where it starts against the audio), so the pieces joined by stream copy
// are that transcode. A piece's name is a hash of everything that decides its frames: one made with
// other inputs (the audio's start learnt late) is made again, and a file appears under its name only
// once complete.

export interface PieceSource {
  /** The VP8 (or other non-H.264) track file; it may still be growing. */
  file: string;
  /** Where its first frame is on the session's clock (ms). */
  startMs: number;
  /** Output size: the first frame's. */
  width: number;
  height: number;
  /** Black frames before the first one, in ms (the stream's audio began this much earlier). */
  padMs: number;
}

export interface PieceOptions {
  /** The track's pieces (nothing else) are kept here. */
  dir: string;
  /** The session's chunk: pieces end at its multiples on the session's clock. */
  chunkMs: number;
  signal?: AbortSignal;
  log?: MediaLog;
}

const run = (o: PieceOptions) => ({ signal: o.signal, log: o.log, stallTimeoutMs: 120_000 });

/** The frame (of the track, at PIECE_FPS) where each piece ends, in order, while below `frames`. */
function* boundaries(src: PieceSource, o: PieceOptions, frames: number): Generator<number> {
  let last = 0;
  for (let i = Math.max(1, Math.ceil(src.startMs / o.chunkMs)); ; i++) {
    const f = Math.round(((i * o.chunkMs - src.startMs) * PIECE_FPS) / 1000);
    if (f >= frames) return;
    if (f > last) yield (last = f);
  }
}

/** Piece [from, to) (to null: the rest of the track, its tail). */
function pieceFile(src: PieceSource, from: number, to: number | null, o: PieceOptions): string {
  const key = JSON.stringify({ v: 1, file: src.file, size: [src.width, src.height], pad: from === 0 ? src.padMs : 0, from, to });
  const hash = createHash("sha256").update(key).digest("hex").slice(0, 12);
  return path.join(o.dir, `piece-${String(from).padStart(8, "0")}-${to === null ? "tail" : "full"}-${hash}.mp4`);
}

/** Makes piece [from, to) unless it is there already; null for an empty tail. */
async function renderPiece(src: PieceSource, from: number, to: number | null, o: PieceOptions): Promise<string | null> {
  const file = pieceFile(src, from, to, o);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(o.dir, { recursive: true });
  const part = `${file}.part-${randomUUID().slice(0, 8)}`;
  try {
    await runFfmpeg(
      buildVideoPieceArgs({
        file: src.file,
        fromSeconds: from / PIECE_FPS,
        frames: to === null ? undefined : to - from,
        padMs: from === 0 ? src.padMs : 0,
        width: src.width,
        height: src.height,
        out: part,
      }),
      run(o),
    );
    if (to === null && (!fs.existsSync(part) || fs.statSync(part).size === 0)) return null;
    fs.renameSync(part, file);
    return file;
  } finally {
    fs.rmSync(part, { force: true });
  }
}

/** While the track is written: makes every piece that ends before `writtenSeconds` of it. Returns how many it made. */
export async function renderWrittenPieces(src: PieceSource, writtenSeconds: number, o: PieceOptions): Promise<number> {
  let made = 0;
  let from = 0;
  for (const to of boundaries(src, o, Math.floor(writtenSeconds * PIECE_FPS) + 1)) {
    if (o.signal?.aborted) break;
    if (!fs.existsSync(pieceFile(src, from, to, o))) {
      await renderPiece(src, from, to, o);
      made++;
    }
    from = to;
  }
  return made;
}

/** Frames in a piece file (0 when it has none). */
async function framesIn(file: string, o: PieceOptions): Promise<number> {
  return (await probe(file, { signal: o.signal, log: o.log })).streams.find((x) => x.codec_type === "video")?.nb_frames ?? 0;
}

/**
 * The whole track as H.264 in `out`: its pieces (those made during the session are reused) and its tail,
 * joined by stream copy. Returns how many pieces there were and how many were made now.
 *
 * The track's end is found by the pieces themselves, not by its header: a file its writer never finished
 * (a crash) says it lasts a day. A piece made now with fewer frames than its span reached the end, and is
 * the last; when none does, the tail after the last boundary is.
 */
export async function transcodeByPieces(src: PieceSource, out: string, o: PieceOptions): Promise<{ pieces: number; made: number }> {
  const header = (await probe(src.file, { signal: o.signal, log: o.log })).durationSeconds;
  const files: string[] = [];
  let made = 0;
  let from = 0;
  let ended = false;
  for (const to of boundaries(src, o, header > 0 ? Math.floor(header * PIECE_FPS) - 1 : Number.MAX_SAFE_INTEGER)) {
    const done = fs.existsSync(pieceFile(src, from, to, o));
    const file = (await renderPiece(src, from, to, o))!;
    if (!done) {
      made++;
      const frames = await framesIn(file, o);
      if (frames < to - from + (from === 0 ? Math.round((src.padMs * PIECE_FPS) / 1000) : 0)) {
        // The track ended inside this piece: it is the last (an empty one is dropped).
        if (frames > 0) files.push(file);
        else fs.rmSync(file, { force: true });
        ended = true;
        break;
      }
    }
    files.push(file);
    from = to;
  }
  if (!ended) {
    const tail = await renderPiece(src, from, null, o);
    if (tail) {
      files.push(tail);
      made++;
    }
  }
  if (files.length === 0)
    throw new MediaProcessError("media_bad_output", "ffmpeg", 0, null, [], { detail: `${src.file}: no frame to transcode` });
  const list = path.join(o.dir, `join-${randomUUID().slice(0, 8)}.txt`);
  fs.writeFileSync(list, buildConcatList(files));
  try {
    await runFfmpeg(
      ["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "concat", "-safe", "0", "-i", list, "-c", "copy", "-f", "mp4", out],
      run(o),
    );
  } finally {
    fs.rmSync(list, { force: true });
  }
  return { pieces: files.length, made };
}
