// Pure ffmpeg argument builder for a per-peer ("stream") recording: one MP4 from a peer stream's video
// WebM and audio WebM, either of which may be missing.
//
// H.264 is remuxed (`-c:v copy`); anything else (VP8, VP9, AV1 cannot go into an MP4 that every player
// reads) is transcoded to H.264 at its own resolution, with `fps=30` first because MediaRecorder's WebM
// timestamps are irregular (it reports 1000 fps). Opus becomes AAC 128k. The two tracks are aligned by
// their start times: the earlier one starts the file at 0 and the later one is delayed: audio with
// `adelay` (real silence, so players that ignore MP4 edit lists still play it in sync), transcoded video
// with `tpad` (black frames), copied video with `-itsoffset` (an edit list: it cannot be padded without
// re-encoding).

export interface PerPeerVideo {
  file: string;
  /** The codec ffprobe reports (`h264`, `vp8`, …). */
  codec: string;
  /** ms on any common clock (the session's, usually); only the difference with the audio matters. */
  startMs: number;
  /** Output size for a transcode (ffprobe's first frame); the stream may change size midway. */
  width?: number;
  height?: number;
}

export interface PerPeerAudio {
  file: string;
  startMs: number;
}

export interface PerPeerArgsOptions {
  video?: PerPeerVideo;
  audio?: PerPeerAudio;
  out: string;
  fps?: number;
  crf?: number;
}

const sec = (ms: number): string => (Math.round(ms) / 1000).toFixed(3);

export const isCopyable = (codec: string): boolean => codec.toLowerCase() === "h264";

/** Frames per second of a transcoded per-peer video (and of its pieces). */
export const PIECE_FPS = 30;

/** Scaled into width x height (even sides), aspect kept, black bars; nothing without a size. */
function fitTo(width?: number, height?: number): string[] {
  if (!width || !height) return [];
  const [w, h] = [width, height].map((v) => Math.max(2, Math.floor(v / 2) * 2));
  return [
    `scale=${w}:${h}:force_original_aspect_ratio=decrease:force_divisible_by=2`,
    `pad=${w}:${h}:(ow-iw)/2:(oh-ih)/2:color=black`,
    "setsar=1",
  ];
}

const x264Args = (fps: number, crf = 23): string[] => [
  "-c:v",
  "libx264",
  "-preset",
  "veryfast",
  "-crf",
  String(crf),
  "-pix_fmt",
  "yuv420p",
  "-r",
  String(fps),
  "-g",
  String(fps * 2),
];

export interface VideoPieceOptions {
  file: string;
  /** Where the piece starts in the track (from its first frame): a whole number of frames at PIECE_FPS. */
  fromSeconds: number;
  /** Frames in the piece; absent: to the end of the track (its tail). */
  frames?: number;
  /** Black frames first (the first piece of a video that starts after its audio), in ms. */
  padMs: number;
  width: number;
  height: number;
  out: string;
}

/**
 * One piece of a per-peer video transcoded progressively (recorders/sfu/per-peer-pieces.ts): the same
 * frames, filters and encoder as the whole transcode of buildPerPeerArgs, from `fromSeconds` (an input
 * seek: frames before it are decoded and dropped, so the piece starts exactly there), video only.
 */
export function buildVideoPieceArgs(o: VideoPieceOptions): string[] {
  const pad = Math.round((o.padMs * PIECE_FPS) / 1000);
  const vf = [`fps=${PIECE_FPS}`, ...fitTo(o.width, o.height)];
  if (pad > 0) vf.push(`tpad=start=${pad}:color=black`);
  vf.push("format=yuv420p");
  return [
    ...["-hide_banner", "-loglevel", "error", "-nostdin", "-y"],
    ...(o.fromSeconds > 0 ? ["-ss", o.fromSeconds.toFixed(6)] : []),
    ...["-i", o.file, "-map", "0:v:0", "-an", "-vf", vf.join(",")],
    ...(o.frames ? ["-frames:v", String(o.frames + pad)] : []),
    ...x264Args(PIECE_FPS),
    ...["-f", "mp4", o.out],
  ];
}

export function buildPerPeerArgs(o: PerPeerArgsOptions): string[] {
  if (!o.video && !o.audio) throw new Error("a stream recording needs a video or an audio track");
  const t0 = Math.min(o.video?.startMs ?? Infinity, o.audio?.startMs ?? Infinity);
  const inputs: string[] = [];
  const out: string[] = [];
  let idx = 0;

  if (o.video) {
    const delayMs = Math.round(o.video.startMs - t0);
    const copy = isCopyable(o.video.codec);
    if (copy && delayMs > 0) inputs.push("-itsoffset", sec(delayMs));
    inputs.push("-i", o.video.file);
    out.push("-map", `${idx}:v:0`);
    if (copy) {
      out.push("-c:v", "copy");
    } else {
      const fps = o.fps ?? PIECE_FPS;
      const vf = [`fps=${fps}`, ...fitTo(o.video.width, o.video.height)];
      if (delayMs > 0) vf.push(`tpad=start_duration=${sec(delayMs)}:color=black`);
      vf.push("format=yuv420p");
      out.push("-vf", vf.join(","), ...x264Args(fps, o.crf));
    }
    idx++;
  }

  if (o.audio) {
    const delayMs = Math.round(o.audio.startMs - t0);
    inputs.push("-i", o.audio.file);
    out.push("-map", `${idx}:a:0`);
    if (delayMs > 0) out.push("-af", `aresample=48000,adelay=delays=${delayMs * 48}S:all=1`);
    out.push("-c:a", "aac", "-b:a", "128k", "-ar", "48000");
    idx++;
  }

  return ["-hide_banner", "-loglevel", "error", "-nostdin", "-y", ...inputs, ...out, "-movflags", "+faststart", "-f", "mp4", o.out];
}
