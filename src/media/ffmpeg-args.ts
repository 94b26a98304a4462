// Pure ffmpeg argument builders (no I/O), unit-tested.

export const FONT_FILE = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/** Where a synthetic participant's ffmpeg sends its two RTP streams. */
export interface RtpTargets {
  videoPort: number;
  audioPort: number;
  videoSsrc: number;
  audioSsrc: number;
  videoPayloadType: number;
  audioPayloadType: number;
}

const rtpOut = (kind: "video" | "audio", o: RtpTargets): string[] => [
  "-payload_type",
  String(kind === "video" ? o.videoPayloadType : o.audioPayloadType),
  "-ssrc",
  String(kind === "video" ? o.videoSsrc : o.audioSsrc),
  "-f",
  "rtp",
  `rtp://127.0.0.1:${kind === "video" ? o.videoPort : o.audioPort}?pkt_size=1200`,
];

/** A running clock (the stream's own time) drawn on the video. */
const clockFilter = (height: number): string =>
  `drawtext=fontfile=${FONT_FILE}:text='%{pts\\:hms}':fontsize=${Math.round(height / 10)}:fontcolor=white:box=1:boxcolor=black@0.6:x=(w-tw)/2:y=h/3`;

export interface SyntheticSourceOptions extends RtpTargets {
  width: number;
  height: number;
  fps: number;
  /** Label drawn under the clock (the participant's name). */
  label: string;
  videoBitrateKbps: number;
  /** Stop after this many seconds (0 = run until killed). */
  durationSeconds: number;
  /** Seconds between keyframes (ffmpeg's RTP output ignores keyframe requests, so keep it short). */
  keyframeIntervalSeconds?: number;
}

/**
 * Text safe to put in a drawtext `text='…'` option: filtergraph and text-expansion escaping nest three
 * levels deep, so rather than escape, keep letters, digits, spaces and `._-,()` (at most 40 of them).
 */
export function drawtextSafe(text: string): string {
  return (
    text
      .replace(/[^\p{L}\p{N} ._,()-]/gu, " ")
      .trim()
      .slice(0, 40) || "participant"
  );
}

/**
 * A synthetic participant's media: a test pattern with a running clock and the participant's name
 * (VP8), and a 1 kHz beep once a second (Opus), sent as RTP to two local UDP ports in real time.
 */
export function buildSyntheticSourceArgs(o: SyntheticSourceOptions): string[] {
  const gop = Math.max(1, Math.round(o.fps * (o.keyframeIntervalSeconds ?? 1)));
  const clock = clockFilter(o.height);
  const label = `drawtext=fontfile=${FONT_FILE}:text='${drawtextSafe(o.label)}':fontsize=${Math.round(o.height / 16)}:fontcolor=yellow:x=(w-tw)/2:y=h*2/3`;
  const duration = o.durationSeconds > 0 ? ["-t", String(o.durationSeconds)] : [];
  return [
    "-hide_banner",
    "-loglevel",
    "error",
    "-nostdin",
    ...duration,
    "-re",
    "-f",
    "lavfi",
    "-i",
    `testsrc2=size=${o.width}x${o.height}:rate=${o.fps},${clock},${label}`,
    ...duration,
    "-re",
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=1000:beep_factor=4:sample_rate=48000",
    "-map",
    "0:v",
    "-c:v",
    "libvpx",
    "-deadline",
    "realtime",
    "-cpu-used",
    "8",
    "-b:v",
    `${o.videoBitrateKbps}k`,
    "-g",
    String(gop),
    "-keyint_min",
    String(gop),
    "-auto-alt-ref",
    "0",
    "-error-resilient",
    "1",
    ...rtpOut("video", o),
    "-map",
    "1:a",
    "-c:a",
    "libopus",
    "-b:a",
    "48k",
    "-application",
    "lowdelay",
    ...rtpOut("audio", o),
  ];
}

export interface LoopedFileOptions extends RtpTargets {
  file: string;
}

/** Sends a VP8/Opus WebM as RTP in real time, looping, without re-encoding (cheap: for benchmarks). */
export function buildLoopedFileArgs(o: LoopedFileOptions): string[] {
  return [
    "-hide_banner",
    "-loglevel",
    "error",
    "-nostdin",
    "-stream_loop",
    "-1",
    "-re",
    "-i",
    o.file,
    "-map",
    "0:v:0",
    "-c:v",
    "copy",
    ...rtpOut("video", o),
    "-map",
    "0:a:0",
    "-c:a",
    "copy",
    ...rtpOut("audio", o),
  ];
}

/** Encodes the synthetic clock-and-beep source once into a WebM file (VP8 + Opus). */
export function buildSyntheticFileArgs(o: {
  width: number;
  height: number;
  fps: number;
  seconds: number;
  videoBitrateKbps: number;
  /** Seconds between keyframes (default 2). */
  keyframeIntervalSeconds?: number;
  out: string;
}): string[] {
  const clock = clockFilter(o.height);
  return [
    "-hide_banner",
    "-loglevel",
    "error",
    "-nostdin",
    "-y",
    "-f",
    "lavfi",
    "-i",
    `testsrc2=size=${o.width}x${o.height}:rate=${o.fps}:duration=${o.seconds},${clock}`,
    "-f",
    "lavfi",
    "-i",
    `sine=frequency=1000:beep_factor=4:sample_rate=48000:duration=${o.seconds}`,
    "-c:v",
    "libvpx",
    "-deadline",
    "realtime",
    "-cpu-used",
    "8",
    "-b:v",
    `${o.videoBitrateKbps}k`,
    "-g",
    String(Math.max(1, Math.round(o.fps * (o.keyframeIntervalSeconds ?? 2)))),
    "-auto-alt-ref",
    "0",
    "-c:a",
    "libopus",
    "-b:a",
    "48k",
    o.out,
  ];
}

/**
 * ffmpeg's input options for the recorder page's MediaRecorder WebM (H.264 + Opus, or Opus alone)
 * arriving on stdin, shared by the browser recording's MP4 writer and the live stream's ladder: errors
 * only and no progress line (stderr stays quiet for the whole run: the owner reads it only for why
 * ffmpeg ended), and writing starts at once (the WebM header names both codecs: no need to read seconds
 * of input first).
 */
export function webmPipeInputArgs(): string[] {
  return ["-hide_banner", "-loglevel", "error", "-nostats", "-probesize", "32768", "-analyzeduration", "0", "-f", "webm", "-i", "pipe:0"];
}

/**
 * The browser recording's MP4 writer: the page's WebM on stdin, its H.264 copied (Opus → AAC at 48 kHz),
 * fragmented MP4 on stdout (one fragment a second, each playable as soon as it is written: the live
 * upload follows the file while it grows).
 */
export function buildCaptureMp4Args(): string[] {
  return [
    ...webmPipeInputArgs(),
    "-map",
    "0:v?",
    "-map",
    "0:a?",
    "-c:v",
    "copy",
    "-c:a",
    "aac",
    "-b:a",
    "128k",
    "-ar",
    "48000",
    "-f",
    "mp4",
    "-movflags",
    "+frag_keyframe+empty_moov+default_base_moof",
    "-frag_duration",
    "1000000",
    "pipe:1",
  ];
}
