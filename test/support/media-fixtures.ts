import { execFile, execFileSync } from "node:child_process";
import fs from "node:fs";
import { promisify } from "node:util";
import os from "node:os";
import path from "node:path";
import { saveToFileSystem, WebmCallback } from "werift/nonstandard";
import { runFfmpeg } from "../../src/media/process.ts";

const execFileP = promisify(execFile);

// Media files shaped like what the SFU's track recorder (werift MediaRecorder) writes: one track per
// WebM file, timestamps from 0 in 1 ms units, VP8 (or H.264 in Matroska, as werift writes it) video from
// a WebRTC-style realtime encoder with long keyframe intervals, Opus audio at 48 kHz. Generated with
// ffmpeg rather than committed.

export interface VideoFixture {
  seconds: number;
  width?: number;
  height?: number;
  fps?: number;
  /** A solid colour (ffmpeg colour name or 0xRRGGBB), or "testsrc2" for a moving test pattern. */
  color?: string;
  codec?: "vp8" | "h264";
  /** Frames between keyframes (WebRTC encoders send few; default 150). */
  gop?: number;
}

export interface AudioFixture {
  seconds: number;
  frequency?: number;
  /** Add a short beep at 4x the frequency at the start of every second (to find where audio lands). */
  beep?: boolean;
}

export function fixtureDir(prefix = "tapedeck-media-"): { dir: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export function videoFixtureArgs(out: string, o: VideoFixture): string[] {
  const w = o.width ?? 640;
  const h = o.height ?? 360;
  const fps = o.fps ?? 30;
  const gop = String(o.gop ?? 150);
  const src =
    !o.color || o.color === "testsrc2"
      ? `testsrc2=size=${w}x${h}:rate=${fps}:duration=${o.seconds}`
      : `color=c=${o.color}:size=${w}x${h}:rate=${fps}:duration=${o.seconds}`;
  const enc =
    o.codec === "h264"
      ? [
          "-c:v",
          "libx264",
          "-preset",
          "ultrafast",
          "-profile:v",
          "baseline",
          "-bf",
          "0",
          "-g",
          gop,
          "-pix_fmt",
          "yuv420p",
          "-f",
          "matroska",
        ]
      : [
          "-c:v",
          "libvpx",
          "-deadline",
          "realtime",
          "-cpu-used",
          "8",
          "-b:v",
          "800k",
          "-g",
          gop,
          "-keyint_min",
          gop,
          "-auto-alt-ref",
          "0",
          "-f",
          "webm",
        ];
  return ["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "lavfi", "-i", src, "-map", "0:v", ...enc, out];
}

export function audioFixtureArgs(out: string, o: AudioFixture): string[] {
  return [
    "-hide_banner",
    "-loglevel",
    "error",
    "-nostdin",
    "-y",
    "-f",
    "lavfi",
    "-i",
    `sine=frequency=${o.frequency ?? 440}:sample_rate=48000:duration=${o.seconds}${o.beep ? ":beep_factor=4" : ""}`,
    "-c:a",
    "libopus",
    "-b:a",
    "48k",
    "-ac",
    "1",
    "-f",
    "webm",
    out,
  ];
}

export async function makeVideoWebm(out: string, o: VideoFixture): Promise<string> {
  await runFfmpeg(videoFixtureArgs(out, o));
  return out;
}

export async function makeAudioWebm(out: string, o: AudioFixture): Promise<string> {
  await runFfmpeg(audioFixtureArgs(out, o));
  return out;
}

/**
 * A video track WebM written by werift's own WebM writer, as the SFU's track recorder writes it: 1 ms
 * timestamps from the first keyframe, cues and duration written at the end; for H.264 the codec is
 * `V_MPEG4/ISO/AVC` without CodecPrivate and each block an Annex B access unit (SPS/PPS in band before
 * every IDR, as Chromium sends them). The frames come from ffmpeg (VP8 in IVF; x264 baseline with
 * access unit delimiters, split at each delimiter).
 */
export async function makeWeriftVideoWebm(out: string, o: VideoFixture): Promise<string> {
  const [w, h, fps] = [o.width ?? 640, o.height ?? 360, o.fps ?? 30];
  const src =
    !o.color || o.color === "testsrc2"
      ? `testsrc2=size=${w}x${h}:rate=${fps}:duration=${o.seconds}`
      : `color=c=${o.color}:size=${w}x${h}:rate=${fps}:duration=${o.seconds}`;
  const gop = String(o.gop ?? 150);
  const raw = `${out}.raw`;
  const enc =
    o.codec === "h264"
      ? [
          "-c:v",
          "libx264",
          "-preset",
          "ultrafast",
          "-profile:v",
          "baseline",
          "-bf",
          "0",
          "-g",
          gop,
          "-pix_fmt",
          "yuv420p",
          "-x264-params",
          "aud=1:repeat-headers=1",
          "-f",
          "h264",
        ]
      : [
          "-c:v",
          "libvpx",
          "-deadline",
          "realtime",
          "-cpu-used",
          "8",
          "-b:v",
          "800k",
          "-g",
          gop,
          "-keyint_min",
          gop,
          "-auto-alt-ref",
          "0",
          "-f",
          "ivf",
        ];
  await runFfmpeg(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "lavfi", "-i", src, ...enc, raw]);
  const stream = fs.readFileSync(raw);
  fs.rmSync(raw);
  const frames: Array<{ data: Buffer; isKeyframe: boolean }> = [];
  if (o.codec === "h264") {
    const aud = Buffer.from([0, 0, 0, 1, 0x09]);
    const hasIdr = (u: Buffer) => {
      for (let i = 0; i + 3 < u.length; i++) if (u[i] === 0 && u[i + 1] === 0 && u[i + 2] === 1 && (u[i + 3] & 0x1f) === 5) return true;
      return false;
    };
    for (let at = stream.indexOf(aud); at >= 0; ) {
      const next = stream.indexOf(aud, at + aud.length);
      const data = stream.subarray(at, next < 0 ? stream.length : next);
      frames.push({ data, isKeyframe: hasIdr(data) });
      at = next;
    }
  } else {
    for (let at = stream.readUInt16LE(6); at + 12 <= stream.length; ) {
      const size = stream.readUInt32LE(at);
      const data = stream.subarray(at + 12, at + 12 + size);
      frames.push({ data, isKeyframe: (data[0] & 1) === 0 });
      at += 12 + size;
    }
  }
  const codec = o.codec === "h264" ? "MPEG4/ISO/AVC" : "VP8";
  const webm = new WebmCallback([{ kind: "video", codec, clockRate: 90000, trackNumber: 1, width: w, height: h }], {
    duration: 1000 * 60 * 60 * 24,
  });
  fs.rmSync(out, { force: true }); // werift appends, as its MediaRecorder does after unlinking the path
  const save = saveToFileSystem(out);
  const done = new Promise<void>((resolve, reject) => {
    let writes = Promise.resolve();
    webm.pipe(
      (output) =>
        (writes = writes
          .then(async () => {
            if (await save(output)) resolve();
          })
          .catch(reject)),
    );
  });
  frames.forEach((f, i) => webm.inputVideo({ frame: { ...f, time: Math.round((i * 1000) / fps) } }));
  webm.inputVideo({ eol: true });
  await done;
  return out;
}

/** Decodes one frame at `seconds` into raw RGB24 (width*height*3 bytes). */
export async function frameAt(file: string, seconds: number, width: number, height: number): Promise<Buffer> {
  const out = path.join(path.dirname(file), `frame-${Math.round(seconds * 1000)}-${process.pid}.rgb`);
  try {
    await runFfmpeg([
      "-hide_banner",
      "-loglevel",
      "error",
      "-nostdin",
      "-y",
      "-ss",
      String(seconds),
      "-i",
      file,
      "-frames:v",
      "1",
      "-f",
      "rawvideo",
      "-pix_fmt",
      "rgb24",
      out,
    ]);
    const buf = fs.readFileSync(out);
    if (buf.length !== width * height * 3) throw new Error(`frame at ${seconds}s is ${buf.length} bytes, expected ${width}x${height}x3`);
    return buf;
  } finally {
    fs.rmSync(out, { force: true });
  }
}

/** The mean colour of a `size`-pixel square centred on (x, y) in an RGB24 frame. */
export function colourAt(frame: Buffer, width: number, x: number, y: number, size = 16): [number, number, number] {
  const sum = [0, 0, 0];
  let n = 0;
  for (let yy = Math.round(y - size / 2); yy < y + size / 2; yy++) {
    for (let xx = Math.round(x - size / 2); xx < x + size / 2; xx++) {
      const i = (yy * width + xx) * 3;
      for (let c = 0; c < 3; c++) sum[c] += frame[i + c];
      n++;
    }
  }
  return sum.map((s) => Math.round(s / n)) as [number, number, number];
}

/** Decodes the first audio stream of [from, from+seconds) to mono 48 kHz samples (-1..1), through `filter` if given. */
export async function decodeAudio(file: string, o: { from?: number; seconds?: number; filter?: string } = {}): Promise<Float64Array> {
  const out = path.join(path.dirname(file), `pcm-${process.pid}-${Math.random().toString(36).slice(2)}.raw`);
  try {
    const range = [...(o.from ? ["-ss", String(o.from)] : []), ...(o.seconds ? ["-t", String(o.seconds)] : [])];
    const filter = o.filter ? ["-af", o.filter] : [];
    await runFfmpeg([
      "-hide_banner",
      "-loglevel",
      "error",
      "-nostdin",
      "-y",
      ...range,
      "-i",
      file,
      "-map",
      "0:a:0",
      ...filter,
      "-ac",
      "1",
      "-ar",
      "48000",
      "-f",
      "s16le",
      out,
    ]);
    const buf = fs.readFileSync(out);
    const samples = new Float64Array(buf.length / 2);
    for (let i = 0; i < samples.length; i++) samples[i] = buf.readInt16LE(i * 2) / 32768;
    return samples;
  } finally {
    fs.rmSync(out, { force: true });
  }
}

/** RMS level (0..1) of the audio over [from, from+seconds). */
export async function audioLevel(file: string, from: number, seconds: number): Promise<number> {
  const s = await decodeAudio(file, { from, seconds });
  let sum = 0;
  for (const v of s) sum += v * v;
  return s.length ? Math.sqrt(sum / s.length) : 0;
}

/** Where the beeps of a `beep: true` fixture at `frequency` land in `file`, in ms (first sample above a threshold after a high-pass). */
export async function beepOnsets(file: string, frequency: number): Promise<number[]> {
  const hp = Math.round(frequency * 3);
  const s = await decodeAudio(file, { filter: `highpass=f=${hp},highpass=f=${hp}` });
  const onsets: number[] = [];
  let lastLoud = -Infinity;
  for (let i = 0; i < s.length; i++) {
    if (Math.abs(s[i]) < 0.05) continue;
    if (i - lastLoud > 24_000) onsets.push(i / 48);
    lastLoud = i;
  }
  return onsets;
}

/** Times (ms) at which the picture turns white (mean luma crossing 128 upwards). */
export async function flashOnsets(file: string): Promise<number[]> {
  const { stdout } = await execFileP("ffprobe", [
    "-v",
    "error",
    "-f",
    "lavfi",
    "-i",
    `movie=${file},signalstats`,
    "-show_entries",
    "frame=pts_time:frame_tags=lavfi.signalstats.YAVG",
    "-of",
    "csv=p=0",
  ]);
  const onsets: number[] = [];
  let on = false;
  for (const line of stdout.trim().split("\n")) {
    const [t, y] = line.split(",").map(Number);
    if (y > 128 && !on) onsets.push(t * 1000);
    on = y > 128;
  }
  return onsets;
}

/** For a flash-and-beep source: each beep's time minus its nearest flash's (audio − video, ms), sorted. */
export async function avOffsetsMs(file: string, beepFrequency = 1000): Promise<{ offsets: number[]; beeps: number[]; flashes: number[] }> {
  const beeps = await beepOnsets(file, beepFrequency);
  const flashes = await flashOnsets(file);
  const offsets = flashes.length
    ? beeps.map((b) => b - flashes.reduce((best, f) => (Math.abs(f - b) < Math.abs(best - b) ? f : best))).sort((a, b) => a - b)
    : [];
  return { offsets, beeps, flashes };
}

/** An MP4 as the browser recorder writes it: H.264/AAC, 15 fps, a keyframe every 2 s, a moving test pattern and a 1 kHz tone. */
export async function makeRecordingMp4(out: string, o: { seconds?: number; width?: number; height?: number } = {}): Promise<string> {
  const [seconds, w, h] = [o.seconds ?? 12, o.width ?? 640, o.height ?? 360];
  fs.mkdirSync(path.dirname(out), { recursive: true });
  await runFfmpeg([
    ...["-hide_banner", "-loglevel", "error", "-nostdin", "-y"],
    ...["-f", "lavfi", "-i", `testsrc2=size=${w}x${h}:rate=15:duration=${seconds}`],
    ...["-f", "lavfi", "-i", `sine=frequency=1000:sample_rate=48000:duration=${seconds}`],
    ...["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "30", "-c:a", "aac", "-movflags", "+faststart", out],
  ]);
  return out;
}

/**
 * A live stream's folder as the HLS worker leaves it: `master.m3u8` and one variant folder per size
 * (`0` the first, the largest), each of dated 2 s MPEG-TS segments cut at the same times (15 fps, a
 * keyframe every 30 frames), with sound.
 */
export async function makeLiveHlsFolder(live: string, o: { sizes: [number, number][]; seconds?: number }): Promise<string> {
  const seconds = o.seconds ?? 12;
  const [[w, h]] = o.sizes;
  for (const i of o.sizes.keys()) fs.mkdirSync(path.join(live, String(i)), { recursive: true });
  const n = o.sizes.length;
  const split = o.sizes.map((_, i) => (i === 0 ? "[v0]" : `[t${i}]`)).join("");
  const scales = o.sizes.slice(1).map(([sw, sh], i) => `;[t${i + 1}]scale=${sw}:${sh}[v${i + 1}]`);
  await runFfmpeg([
    ...["-hide_banner", "-loglevel", "error", "-nostdin", "-y"],
    ...["-f", "lavfi", "-i", `testsrc2=size=${w}x${h}:rate=15:duration=${seconds}`],
    ...["-f", "lavfi", "-i", `sine=frequency=1000:sample_rate=48000:duration=${seconds}`],
    ...["-filter_complex", `[0:v]split=${n}${split}${scales.join("")}`],
    ...o.sizes.flatMap((_, i) => ["-map", `[v${i}]`]),
    ...o.sizes.flatMap(() => ["-map", "1:a"]),
    ...["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "30", "-keyint_min", "30", "-sc_threshold", "0"],
    ...["-c:a", "aac", "-b:a", "64k"],
    ...["-f", "hls", "-hls_time", "2", "-hls_playlist_type", "event", "-hls_list_size", "0"],
    ...["-hls_flags", "program_date_time+independent_segments+temp_file"],
    ...["-var_stream_map", o.sizes.map((_, i) => `v:${i},a:${i},name:${i}`).join(" ")],
    ...["-master_pl_name", "master.m3u8"],
    ...["-hls_segment_filename", path.join(live, "%v", "seg-%05d.ts"), path.join(live, "%v", "index.m3u8")],
  ]);
  return live;
}

export interface FlashBeepFixture {
  seconds?: number;
  width?: number;
  height?: number;
  fps?: number;
  /** [from, to] s: the picture stops, showing the frame from a third of a second before `from` (no flashes meanwhile). */
  freeze?: [number, number];
  /** The sound starts this much later: every beep comes after its flash. */
  audioDelayMs?: number;
  /** [from, to] s: the picture is black. */
  black?: [number, number];
  /** [from, to] s: no sound (the beeps in it are left out). */
  mute?: [number, number];
  /** [from, to] s: the beeps in it are 8 times too loud, clipped at full scale (as a 16-bit capture clips). */
  clip?: [number, number];
  /** Leave out the picture (an audio-only M4A) or the sound. */
  video?: boolean;
  audio?: boolean;
}

/**
 * A flash-and-beep MP4 (H.264 + stereo AAC, as the recorders write): a moving test pattern that turns
 * white for the first 0.1 s of every second, and a 1 kHz beep over the same 0.1 s, silence between
 * (so its A/V offset is known: 0, or `audioDelayMs`).
 */
export async function makeFlashBeepMp4(out: string, o: FlashBeepFixture = {}): Promise<string> {
  const [seconds, w, h, fps] = [o.seconds ?? 12, o.width ?? 640, o.height ?? 360, o.fps ?? 30];
  const graph: string[] = [];
  const maps: string[] = [];
  if (o.video !== false) {
    const black = o.black ? `,drawbox=c=black:t=fill:enable='gte(t,${o.black[0]})*lt(t,${o.black[1]})'` : "";
    const flash = `testsrc2=size=${w}x${h}:rate=${fps}:duration=${seconds},drawbox=c=white:t=fill:enable='lt(mod(t,1),0.1)'${black}`;
    if (o.freeze) {
      const [first, last] = [Math.round(o.freeze[0] * fps), Math.round(o.freeze[1] * fps) - 1];
      const replace = first - Math.round(fps / 3);
      graph.push(`${flash},split[a][b];[a][b]freezeframes=first=${first}:last=${last}:replace=${replace}[v]`);
    } else graph.push(`${flash}[v]`);
    maps.push("-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", String(2 * fps));
  }
  if (o.audio !== false) {
    // The delay is in the expression (as adelay would: silence, then the beeps late), which keeps the
    // frames the size the AAC encoder takes.
    const d = (o.audioDelayMs ?? 0) / 1000;
    const within = (span: [number, number] | undefined) => (span ? `gte(t,${span[0]})*lt(t,${span[1]})` : "0");
    const gain = `(1-${within(o.mute)})*(1+7*${within(o.clip)})`;
    const beeps = `0.5*sin(2*PI*1000*t)*gte(t,${d})*lt(mod(t-${d},1),0.1)*${gain}`;
    graph.push(`aevalsrc='${beeps}':s=48000:d=${seconds},aformat=sample_fmts=s16:channel_layouts=stereo[a]`);
    maps.push("-map", "[a]", "-c:a", "aac", "-b:a", "128k");
  }
  await runFfmpeg([
    ...["-hide_banner", "-loglevel", "error", "-nostdin", "-y"],
    ...["-filter_complex", graph.join(";"), ...maps],
    ...["-t", String(seconds), "-movflags", "+faststart", out],
  ]);
  return out;
}

/**
 * An MKV whose picture cannot be decoded at all: an H.264 track as werift writes it (no CodecPrivate,
 * parameter sets in band) with every byte garbled, so not even its pixel format is known; with the
 * sound of `soundFrom`, copied.
 */
export async function makeUndecodableVideoMkv(out: string, soundFrom: string, seconds = 5): Promise<string> {
  const video = await makeWeriftVideoWebm(`${out}.video.webm`, { seconds, codec: "h264" });
  try {
    await runFfmpeg([
      ...["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", video, "-i", soundFrom],
      ...["-map", "0:v", "-map", "1:a", "-c", "copy", "-t", String(seconds), "-bsf:v", "noise=amount=1", "-f", "matroska", out],
    ]);
  } finally {
    fs.rmSync(video, { force: true });
  }
  return out;
}

/** Every video frame of `file`, scaled to w x h, as RGB24 (the compositor tests read layouts off them). */
export function scaledFrames(file: string, w: number, h: number): Buffer[] {
  const raw = execFileSync(
    "ffmpeg",
    ["-v", "error", "-i", file, "-vf", `scale=${w}:${h}:flags=area`, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
    { maxBuffer: 1 << 30 },
  );
  const size = w * h * 3;
  return Array.from({ length: raw.length / size }, (_, i) => raw.subarray(i * size, (i + 1) * size));
}

export type TileColour = "red" | "green" | "blue" | "black" | "grey" | "other";

/**
 * The colour at (fx, fy) (fractions of the canvas) of a scaled RGB24 frame of w x h: one of the
 * one-colour publishers' (red, green 0x00C000, blue), black, the dark grey of a tile without a picture
 * (a name tile, or around a fitted picture), or other.
 */
export function tileColour(frame: Buffer, fx: number, fy: number, w: number, h: number): TileColour {
  const i = (Math.floor(fy * h) * w + Math.floor(fx * w)) * 3;
  const [r, g, b] = [frame[i], frame[i + 1], frame[i + 2]];
  if (r > 160 && g < 90 && b < 90) return "red";
  if (g > 130 && r < 90 && b < 90) return "green";
  if (b > 160 && r < 90 && g < 90) return "blue";
  if (r < 30 && g < 30 && b < 30) return "black";
  if (r < 70 && g < 70 && b < 70 && Math.max(r, g, b) - Math.min(r, g, b) < 12) return "grey";
  return "other";
}

/** The runs of equal values: [value, count] in order. */
export function runsOf<T>(xs: readonly T[]): Array<[T, number]> {
  const out: Array<[T, number]> = [];
  for (const x of xs) {
    const last = out.at(-1);
    if (last && last[0] === x) last[1]++;
    else out.push([x, 1]);
  }
  return out;
}
