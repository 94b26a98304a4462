import { createHash, randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { buildConcatList } from "../../media/composite-args.ts";
import { buildVideoPieceArgs, PIECE_FPS } from "../../media/per-peer-args.ts";
import { MediaProcessError, probe, runFfmpeg, type MediaLog } from "../../media/process.ts";
import { measurePicture } from "../../quality/analyze.ts";
import { joinPictures, type PictureMeasure } from "../../quality/picture.ts";
import { parseJson } from "../../util/json.ts";

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
//
// Each piece's picture is measured once it is made (its `.picture.json` beside it: quality/picture.ts),
// so the per-peer file's quality report needs only its sound measured at the close.

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

/** Where a piece's picture measure is kept. */
const pictureFile = (piece: string) => `${piece}.picture.json`;

/**
 * The piece's picture, measured once and kept beside it (`read`: returned; else only made sure of).
 * Null when it could not be measured: logged, and the whole file is measured at the close instead.
 */
async function piecePicture(piece: string, o: PieceOptions, read: boolean): Promise<PictureMeasure | null> {
  const json = pictureFile(piece);
  if (fs.existsSync(json)) {
    if (!read) return null;
    const kept = parseJson<PictureMeasure | null>(fs.readFileSync(json, "utf8"), null);
    if (kept?.version === 1) return kept;
  }
  try {
    const m = await measurePicture(piece, { signal: o.signal, log: o.log });
    const part = `${json}.part-${randomUUID().slice(0, 8)}`;
    fs.writeFileSync(part, JSON.stringify(m));
    fs.renameSync(part, json);
    return m;
  } catch (err) {
    if (o.signal?.aborted) throw err;
    o.log?.warn({ piece, err: (err as Error).message }, "a stream video piece's picture could not be measured; the file is measured whole");
    return null;
  }
}

/** While the track is written: makes (and measures) every piece that ends before `writtenSeconds` of it. Returns how many it made. */
export async function renderWrittenPieces(src: PieceSource, writtenSeconds: number, o: PieceOptions): Promise<number> {
  let made = 0;
  let from = 0;
  for (const to of boundaries(src, o, Math.floor(writtenSeconds * PIECE_FPS) + 1)) {
    if (o.signal?.aborted) break;
    const file = pieceFile(src, from, to, o);
    if (!fs.existsSync(file)) {
      await renderPiece(src, from, to, o);
      made++;
    }
    await piecePicture(file, o, false);
    from = to;
  }
  return made;
}

/** The joined file's picture from its pieces' (those not measured yet are now); null when one cannot be. */
async function joinedPicture(src: PieceSource, pieces: ReadonlyArray<{ file: string; from: number }>, o: PieceOptions) {
  const pad = Math.round((src.padMs * PIECE_FPS) / 1000);
  const parts: Array<{ at: number; m: PictureMeasure }> = [];
  for (const p of pieces) {
    const m = await piecePicture(p.file, o, true);
    if (!m) return null;
    // The first piece starts the file (its black frames first); piece [from, …) after `pad + from` frames.
    parts.push({ at: p.from === 0 ? 0 : (pad + p.from) / PIECE_FPS, m });
  }
  return joinPictures(parts);
}

/** Frames in a piece file (0 when it has none). */
async function framesIn(file: string, o: PieceOptions): Promise<number> {
  return (await probe(file, { signal: o.signal, log: o.log })).streams.find((x) => x.codec_type === "video")?.nb_frames ?? 0;
}

/**
 * The whole track as H.264 in `out`: its pieces (those made during the session are reused) and its tail,
 * joined by stream copy. Returns how many pieces there were, how many were made now, and the joined
 * picture's measure (null when a piece could not be measured).
 *
 * The track's end is found by the pieces themselves, not by its header: a file its writer never finished
 * (a crash) says it lasts a day. A piece made now with fewer frames than its span reached the end, and is
 * the last; when none does, the tail after the last boundary is.
 */
export async function transcodeByPieces(
  src: PieceSource,
  out: string,
  o: PieceOptions,
): Promise<{ pieces: number; made: number; picture: PictureMeasure | null }> {
  const header = (await probe(src.file, { signal: o.signal, log: o.log })).durationSeconds;
  const files: Array<{ file: string; from: number }> = [];
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
        if (frames > 0) files.push({ file, from });
        else fs.rmSync(file, { force: true });
        ended = true;
        break;
      }
    }
    files.push({ file, from });
    from = to;
  }
  if (!ended) {
    const tail = await renderPiece(src, from, null, o);
    if (tail) {
      files.push({ file: tail, from });
      made++;
    }
  }
  if (files.length === 0)
    throw new MediaProcessError("media_bad_output", "ffmpeg", 0, null, [], { detail: `${src.file}: no frame to transcode` });
  const list = path.join(o.dir, `join-${randomUUID().slice(0, 8)}.txt`);
  fs.writeFileSync(list, buildConcatList(files.map((p) => p.file)));
  try {
    await runFfmpeg(
      ["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "concat", "-safe", "0", "-i", list, "-c", "copy", "-f", "mp4", out],
      run(o),
    );
  } finally {
    fs.rmSync(list, { force: true });
  }
  return { pieces: files.length, made, picture: await joinedPicture(src, files, o) };
}
