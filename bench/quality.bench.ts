import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { FileFollower } from "../src/recorders/core/follow-file.ts";
import { runFfmpeg } from "../src/media/process.ts";
import { analyzeMedia } from "../src/quality/analyze.ts";
import { median } from "./proc.ts";

// What a quality report costs (src/quality/), beside the recording it is about, in the same run:
// - after the file: one pass over a finished 720p30 H.264 + AAC MP4 (wall and CPU seconds), beside the
//   CPU of encoding that same picture once with x264 veryfast (what the recording itself spent on it);
// - while recording: the same analysis following the file as it is written at real-time pace, as a
//   recording's capture does; the figure is how long after the file's end its report is ready.

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SECONDS = Number(process.env.BENCH_QUALITY_SECONDS ?? 60);
const LIVE_SECONDS = Number(process.env.BENCH_QUALITY_LIVE_SECONDS ?? 20);

/** CPU seconds of this process's finished children (cutime + cstime). */
function childCpu(): number {
  const stat = fs.readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[13]) + Number(f[14])) / 100;
}

async function measureCpu(fn: () => Promise<unknown>): Promise<{ wall: number; cpu: number }> {
  const [c0, t0] = [childCpu() + process.cpuUsage().user / 1e6, performance.now()];
  await fn();
  return { wall: (performance.now() - t0) / 1000, cpu: childCpu() + process.cpuUsage().user / 1e6 - c0 };
}

/** A recording-like MP4: moving 720p30 picture (x264 veryfast, fragmented as a capture writes it) and AAC. */
function encodeArgs(out: string, seconds: number): string[] {
  return [
    ...["-hide_banner", "-loglevel", "error", "-y"],
    ...["-f", "lavfi", "-i", `testsrc2=s=1280x720:r=30:d=${seconds},drawbox=c=white:t=fill:enable='lt(mod(t\\,1)\\,0.1)'`],
    ...["-f", "lavfi", "-i", `sine=f=1000:r=48000:d=${seconds},volume='if(lt(mod(t,1),0.1),0.8,0)':eval=frame`],
    ...["-c:v", "libx264", "-preset", "veryfast", "-b:v", "2500k", "-g", "60", "-pix_fmt", "yuv420p"],
    ...["-c:a", "aac", "-b:a", "128k", "-movflags", "+frag_keyframe+empty_moov+default_base_moof", out],
  ];
}

/** Copies `from` into `to` at real-time pace (its bytes spread over `seconds`), telling `follower` as it grows. */
async function writeAtPace(from: string, to: string, seconds: number, follower: FileFollower): Promise<void> {
  const data = fs.readFileSync(from);
  const steps = seconds * 10;
  const fd = fs.openSync(to, "w");
  try {
    for (let i = 0; i < steps; i++) {
      fs.writeSync(fd, data.subarray(Math.floor((i * data.length) / steps), Math.floor(((i + 1) * data.length) / steps)));
      follower.grew();
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    fs.closeSync(fd);
  }
  follower.end();
}

export async function benchQuality(): Promise<Array<[string, string, string]>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-bench-quality-"));
  try {
    const file = path.join(dir, "recording.mp4");
    const encodes: number[] = [];
    const after: Array<{ wall: number; cpu: number }> = [];
    for (let i = 0; i < RUNS; i++) {
      encodes.push((await measureCpu(() => runFfmpeg(encodeArgs(file, SECONDS)))).cpu);
      after.push(await measureCpu(() => analyzeMedia(file, { expectVideo: true, expectAudio: true })));
    }
    const liveFile = path.join(dir, "live.mp4");
    const short = path.join(dir, "short.mp4");
    await runFfmpeg(encodeArgs(short, LIVE_SECONDS));
    const tails: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const follower = new FileFollower(liveFile);
      fs.writeFileSync(liveFile, fs.readFileSync(short).subarray(0, 64 * 1024)); // the header first, as a capture's first write
      let ready = 0;
      const report = analyzeMedia(liveFile, { follow: () => follower.stream(), expectVideo: true, expectAudio: true }).then(() => {
        ready = performance.now();
      });
      await writeAtPace(short, liveFile, LIVE_SECONDS, follower);
      const ended = performance.now();
      await report;
      tails.push((ready - ended) / 1000);
    }
    const wall = median(after.map((a) => a.wall));
    const cpu = median(after.map((a) => a.cpu));
    const enc = median(encodes);
    return [
      [
        `quality report after the file (${SECONDS} s 720p30 MP4)`,
        `${wall.toFixed(2)} s wall, ${cpu.toFixed(2)} s CPU`,
        `baseline: the recording's own x264 veryfast encode of it ${enc.toFixed(2)} s CPU (report = ${((100 * cpu) / enc).toFixed(0)}% of it, ${((100 * wall) / SECONDS).toFixed(1)}% of the file's length in wall time)`,
      ],
      [
        `quality report while recording (${LIVE_SECONDS} s file written in real time)`,
        `ready ${median(tails).toFixed(2)} s after the file's end`,
        `baseline: after the file, ${((wall * LIVE_SECONDS) / SECONDS).toFixed(2)} s for the same length`,
      ],
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const row of await benchQuality()) console.log(row.join("  "));
}
