import fs from "node:fs";
import { randomUUID } from "node:crypto";
import { buildPerPeerArgs, isCopyable } from "../../media/per-peer-args.ts";
import path from "node:path";
import { firstFrameSize, MediaProcessError, probe, runFfmpeg, type MediaLog } from "../../media/process.ts";
import type { PictureMeasure } from "../../quality/picture.ts";
import { type PieceSource, transcodeByPieces } from "./per-peer-pieces.ts";

// A per-peer ("stream") recording: one MP4 from a peer stream's track WebMs (see per-peer-args.ts for
// the choices). Probes the video for its codec and size, runs one ffmpeg, checks the result.

export interface PeerStreamTracks {
  /** Track files with the start of their first media, in ms on the session's clock. */
  video?: { file: string; startMs: number };
  audio?: { file: string; startMs: number };
}

export interface PeerStreamOptions {
  outFile: string;
  /** A video to transcode goes by pieces kept here (those made during the session are reused: per-peer-pieces.ts). */
  pieces?: { dir: string; chunkMs: number };
  signal?: AbortSignal;
  log?: MediaLog;
  /** Hard limit (default none). */
  timeoutMs?: number;
  /** Kill ffmpeg when its output has not advanced for this long (default 120 s). */
  stallTimeoutMs?: number;
}

export interface PeerStreamResult {
  durationSeconds: number;
  sizeBytes: number;
  /** `copy` (H.264 remuxed) or `transcode`; absent without video. */
  video?: { codec: string; mode: "copy" | "transcode"; width?: number; height?: number };
  hasAudio: boolean;
  /** The video's picture as measured piece by piece (transcoded by pieces only; null when a piece could not be measured). */
  picture?: PictureMeasure | null;
}

/** Writes `outFile` (whole, then renamed into place) from the peer stream's tracks. */
export async function renderPeerStream(tracks: PeerStreamTracks, o: PeerStreamOptions): Promise<PeerStreamResult> {
  const run = { signal: o.signal, log: o.log };
  const vp = tracks.video ? await probe(tracks.video.file, run) : undefined;
  const ap = tracks.audio ? await probe(tracks.audio.file, run) : undefined;
  const vs = vp?.streams.find((s) => s.codec_type === "video");
  if (tracks.video && !vs)
    throw new MediaProcessError("media_bad_output", "ffprobe", 0, null, [], { detail: `${tracks.video.file} has no video stream` });
  if (tracks.audio && !ap?.streams.some((s) => s.codec_type === "audio")) {
    throw new MediaProcessError("media_bad_output", "ffprobe", 0, null, [], { detail: `${tracks.audio.file} has no audio stream` });
  }
  const video = tracks.video && vs ? { ...tracks.video, codec: vs.codec_name, width: vs.width, height: vs.height } : undefined;
  const part = `${o.outFile}.part-${randomUUID().slice(0, 8)}`;
  let input = video;
  let picture: PictureMeasure | null | undefined;
  if (video && !isCopyable(video.codec) && o.pieces) {
    // Transcoded by pieces, then copied in with its lead over the audio already in its first piece.
    const src = await pieceSource(video, tracks.audio, run);
    const joined = path.join(o.pieces.dir, "joined.mp4");
    const r = await transcodeByPieces(src, joined, { ...o.pieces, ...run });
    o.log?.info({ file: video.file, pieces: r.pieces, made_after_close: r.made }, "stream video transcoded by pieces");
    picture = r.picture;
    input = {
      file: joined,
      codec: "h264",
      startMs: video.startMs - src.padMs,
      width: src.width,
      height: src.height,
    };
  }
  try {
    await runFfmpeg(buildPerPeerArgs({ video: input, audio: tracks.audio, out: part }), {
      ...run,
      timeoutMs: o.timeoutMs,
      stallTimeoutMs: o.stallTimeoutMs ?? 120_000,
    });
    fs.renameSync(part, o.outFile);
  } finally {
    fs.rmSync(part, { force: true });
  }
  if (input !== video && o.pieces) fs.rmSync(path.join(o.pieces.dir, "joined.mp4"), { force: true });
  const out = await probe(o.outFile, run);
  o.log?.info(
    { file: o.outFile, duration: out.durationSeconds, size: out.sizeBytes, video_codec: video?.codec },
    "stream recording written",
  );
  return {
    durationSeconds: out.durationSeconds,
    sizeBytes: out.sizeBytes,
    video: video && { codec: video.codec, mode: isCopyable(video.codec) ? "copy" : "transcode", width: video.width, height: video.height },
    hasAudio: Boolean(tracks.audio),
    ...(picture !== undefined ? { picture } : {}),
  };
}

/**
 * A stream's video as the pieces are made from it: its first frame's size (a growing file's header has
 * its writer's default), and the black frames that put it where it starts against the audio.
 */
export async function pieceSource(
  video: { file: string; startMs: number },
  audio: { startMs: number } | undefined,
  o: { signal?: AbortSignal; log?: MediaLog } = {},
): Promise<PieceSource> {
  const size = await firstFrameSize(video.file, o);
  const padMs = Math.max(0, video.startMs - Math.min(video.startMs, audio?.startMs ?? Infinity));
  return { file: video.file, startMs: video.startMs, ...size, padMs };
}
