import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildCaptureMp4Args } from "../src/media/ffmpeg-args.ts";
import { runFfmpeg } from "../src/media/process.ts";
import { superviseProcess } from "../src/process/supervisor.ts";
import { CaptureFfmpeg } from "../src/recorders/core/capture-ffmpeg.ts";
import { FileFollower } from "../src/recorders/core/follow-file.ts";
import { median } from "./proc.ts";

// The browser recorder's capture ffmpeg, its pipe path alone (no Chromium): the same WebM (720p30 H.264
// without B-frames + Opus stereo, as MediaRecorder writes it, BENCH_CAPTURE_SECONDS long, default 20)
// fed in 0.5 s chunks, as fast as ffmpeg takes them, into
//   - supervised: CaptureFfmpeg, the recorder's own code (process supervisor, MP4 to a spool file, the follower told);
//   - bare: the same ffmpeg from a bare spawn, its stderr kept as a string, MP4 to a file (the recorder before it moved).
// Measured per run: CPU seconds of this Node process (process.cpuUsage) and of ffmpeg (this process's
// reaped-children time, /proc/self/stat cutime + cstime), and the bytes ffmpeg wrote to stderr (for
// CaptureFfmpeg: 0 when its end message carries no stderr line, else the run fails). The two
// paths alternate, BENCH_CAPTURE_RUNS (default 7) of each, and the medians are printed. Then the same
// with a chatty stderr (-loglevel info -stats: a progress line twice a second plus the stream banner),
// superviseProcess against a bare spawn, to show what the supervisor's line splitting costs.
// With BENCH_CAPTURE_CONTEND=1, also what the supervisor's own session (setsid: on Linux with
// sched_autogroup_enabled, a scheduling group of its own) does to a competitor in another session, as
// Chromium runs in one of its own: the wall time of a 720p x264 encode (2 threads, 300 frames) while the
// capture is fed in real time (0.5 s chunks every 0.5 s) through each path, and with no capture at all.
//   node --import tsx bench/capture-pipe.bench.ts

const SECONDS = Number(process.env.BENCH_CAPTURE_SECONDS ?? 20);
const RUNS = Number(process.env.BENCH_CAPTURE_RUNS ?? 7);
const say = (line: string) => console.error(`[bench capture-pipe] ${line}`);
const silent = { debug() {}, info() {}, warn() {}, error() {} };

/** CPU seconds of this process's children that have exited and been reaped (USER_HZ ticks). */
function reapedChildrenCpu(): number {
  const stat = fs.readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[13]) + Number(f[14])) / 100;
}

interface Run {
  node: number;
  ffmpeg: number;
  stderrBytes: number;
}

async function measure(run: () => Promise<number>): Promise<Run> {
  const c0 = process.cpuUsage();
  const k0 = reapedChildrenCpu();
  const stderrBytes = await run();
  const c = process.cpuUsage(c0);
  return { node: (c.user + c.system) / 1e6, ffmpeg: reapedChildrenCpu() - k0, stderrBytes };
}

/** The recorder's path: CaptureFfmpeg (supervised), every chunk through write() at once (as the page's binding does: it never waits for the pipe), then stop() = end of input. */
async function supervised(chunks: Buffer[], spool: string): Promise<number> {
  const ff = new CaptureFfmpeg({ spoolFile: spool, follower: new FileFollower(spool), log: silent });
  for (const c of chunks) ff.write(c);
  ff.stop();
  const why = await ff.ended;
  if (why !== "ffmpeg exited (code 0)") throw new Error(`supervised: ${why}`); // anything after it is a stderr line
  return 0;
}

/** The recorder's ffmpeg as it was spawned before the supervisor ran it (cc9d6d4). */
async function bare(chunks: Buffer[], spool: string, args: string[]): Promise<number> {
  fs.writeFileSync(spool, "");
  const ff = spawn("ffmpeg", args, { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  let stderrBytes = 0;
  ff.stderr.on("data", (d: Buffer) => {
    stderrBytes += d.length;
    stderr = (stderr + d.toString()).slice(-2000);
  });
  ff.stdin.on("error", () => undefined);
  const out = fs.createWriteStream(spool, { flags: "a" });
  ff.stdout.on("data", (d: Buffer) => {
    if (!out.write(d)) ff.stdout.pause();
  });
  out.on("drain", () => ff.stdout.resume());
  const closed = new Promise<number | null>((resolve) => ff.on("close", (code) => resolve(code)));
  for (const c of chunks) ff.stdin.write(c);
  ff.stdin.end();
  const code = await closed;
  await new Promise<void>((r) => out.end(r));
  if (code !== 0) throw new Error(`bare: ffmpeg exited ${code}: ${stderr.trim().split("\n").pop()}`);
  return stderrBytes;
}

/** superviseProcess with the same arguments (for the chatty comparison: stderr split into lines and logged). */
async function supervisedRaw(chunks: Buffer[], spool: string, args: string[]): Promise<number> {
  const p = superviseProcess({
    name: "ffmpeg",
    command: "ffmpeg",
    args,
    stdin: "pipe",
    stdout: "pipe",
    log: silent,
    gracefulStop: "stdin-end",
    stopGraceMs: 60_000,
  });
  let stderrBytes = 0;
  p.child.stderr?.on("data", (d: string) => {
    stderrBytes += Buffer.byteLength(d);
  });
  const out = fs.createWriteStream(spool);
  const stdout = p.child.stdout!;
  stdout.on("data", (d: Buffer) => {
    if (!out.write(d)) stdout.pause();
  });
  out.on("drain", () => stdout.resume());
  for (const c of chunks) p.child.stdin!.write(c);
  const end = await p.stop();
  await new Promise<void>((r) => out.end(r));
  if (end.code !== 0) throw new Error(`supervised: ${end.reason}, code ${end.code}: ${end.stderrTail.at(-1) ?? ""}`);
  return stderrBytes;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** "/autogroup-123 nice 0" of a process, or "?" (no autogroup support, or gone). */
const autogroupOf = (pid: number | undefined): string => {
  try {
    return fs.readFileSync(`/proc/${pid}/autogroup`, "utf8").trim();
  } catch {
    return "?";
  }
};

/** Seconds a 720p x264 encode in a session of its own takes while `capture` feeds a capture in real time. */
async function contended(capture: "none" | "bare" | "supervised", chunks: Buffer[], spool: string): Promise<{ s: number; group: string }> {
  let write: (c: Buffer) => void = () => undefined;
  let finish: () => Promise<unknown> = async () => undefined;
  let group = autogroupOf(process.pid);
  if (capture === "bare") {
    const ff = spawn("ffmpeg", buildCaptureMp4Args(), { stdio: ["pipe", "pipe", "pipe"] });
    ff.stdin.on("error", () => undefined);
    ff.stderr.resume();
    const out = fs.createWriteStream(spool);
    ff.stdout.pipe(out);
    write = (c) => ff.stdin.write(c);
    finish = () => new Promise((r) => (ff.stdin.end(), ff.on("close", r)));
    group = autogroupOf(ff.pid);
  } else if (capture === "supervised") {
    const ff = new CaptureFfmpeg({ spoolFile: spool, follower: new FileFollower(spool), log: silent });
    write = (c) => ff.write(c);
    finish = () => (ff.stop(), ff.ended);
    group = autogroupOf(ff.pid);
  }
  let feeding = true;
  const feeder = (async () => {
    for (let i = 0; feeding && i < chunks.length; i++) {
      write(chunks[i]);
      await sleep(500);
    }
  })();
  await sleep(300);
  const t0 = performance.now();
  const enc = spawn(
    "ffmpeg",
    ["-hide_banner", "-loglevel", "error", "-nostdin", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-frames:v", "300"].concat([
      "-c:v",
      "libx264",
      "-preset",
      "veryfast",
      "-threads",
      "2",
      "-f",
      "null",
      "-",
    ]),
    { stdio: "ignore", detached: true },
  );
  await new Promise((r) => enc.on("close", r));
  const s = (performance.now() - t0) / 1000;
  feeding = false;
  await feeder;
  await finish();
  return { s, group };
}

async function contention(chunks: Buffer[], spool: string): Promise<string[]> {
  const kinds = ["none", "bare", "supervised"] as const;
  const runs: Record<string, number[]> = { none: [], bare: [], supervised: [] };
  const groups: Record<string, string> = {};
  for (let i = 0; i < RUNS; i++) {
    for (const k of i % 2 ? [...kinds].reverse() : kinds) {
      const r = await contended(k, chunks, spool);
      runs[k].push(r.s);
      groups[k] = r.group;
    }
  }
  return [
    `a competitor in its own session (720p x264, 300 frames) beside a real-time capture: median of ${RUNS}, interleaved`,
    ...kinds.map(
      (k) => `  ${`capture: ${k}`.padEnd(34)} ${median(runs[k]).toFixed(2)} s   (capture ffmpeg in ${k === "none" ? "-" : groups[k]})`,
    ),
  ];
}

function row(label: string, runs: Run[]): string {
  const m = (k: keyof Run) => median(runs.map((r) => r[k]));
  return `${label.padEnd(34)} node ${m("node").toFixed(3)} s   ffmpeg ${m("ffmpeg").toFixed(2)} s   stderr ${m("stderrBytes")} B`;
}

async function compare(label: string, a: [string, () => Promise<number>], b: [string, () => Promise<number>]): Promise<string[]> {
  const runs: Record<string, Run[]> = { [a[0]]: [], [b[0]]: [] };
  await measure(a[1]); // warm-up (page cache, JIT), not counted
  for (let i = 0; i < RUNS; i++) {
    const order = i % 2 ? [b, a] : [a, b];
    for (const [name, fn] of order) runs[name].push(await measure(fn));
  }
  return [`${label}: median of ${RUNS}, interleaved`, `  ${row(a[0], runs[a[0]])}`, `  ${row(b[0], runs[b[0]])}`];
}

export async function benchCapturePipe(): Promise<string[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-capture-bench-"));
  try {
    const webm = path.join(dir, "capture.webm");
    say(`making a ${SECONDS} s 720p30 H.264 + Opus WebM`);
    await runFfmpeg(
      // Matroska: ffmpeg's webm muxer refuses H.264, MediaRecorder's does not; ffmpeg reads both as `-f webm`.
      ["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "lavfi", "-i", `testsrc2=size=1280x720:rate=30:duration=${SECONDS}`]
        .concat(["-f", "lavfi", "-i", `sine=frequency=1000:beep_factor=4:sample_rate=48000:duration=${SECONDS}`])
        .concat(["-c:v", "libx264", "-preset", "ultrafast", "-profile:v", "baseline", "-bf", "0", "-g", "60", "-b:v", "2500k"])
        .concat(["-pix_fmt", "yuv420p", "-c:a", "libopus", "-b:a", "128k", "-ac", "2", "-f", "matroska", webm]),
    );
    const data = fs.readFileSync(webm);
    const size = Math.ceil(data.length / (SECONDS * 2)); // 0.5 s of capture, as MediaRecorder hands them over
    const chunks: Buffer[] = [];
    for (let i = 0; i < data.length; i += size) chunks.push(data.subarray(i, i + size));
    const spool = path.join(dir, "spool.mp4");
    const quiet = buildCaptureMp4Args();
    const chatty = quiet.filter((a, i) => a !== "-nostats" && quiet[i - 1] !== "-loglevel" && a !== "-loglevel");
    chatty.splice(1, 0, "-loglevel", "info", "-stats");
    const lines = [
      ...(await compare(
        `capture ffmpeg, ${SECONDS} s of 720p in ${chunks.length} chunks`,
        ["supervised (CaptureFfmpeg)", () => supervised(chunks, spool)],
        ["bare spawn", () => bare(chunks, spool, quiet)],
      )),
      ...(await compare(
        "chatty stderr (-loglevel info -stats)",
        ["supervised (superviseProcess)", () => supervisedRaw(chunks, spool, chatty)],
        ["bare spawn", () => bare(chunks, spool, chatty)],
      )),
    ];
    if (process.env.BENCH_CAPTURE_CONTEND === "1") lines.push(...(await contention(chunks, spool)));
    return lines;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(
    `capture pipe bench on ${os.cpus().length} cores, load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}, ${new Date().toISOString()}`,
  );
  for (const line of await benchCapturePipe()) console.log(line);
  process.exit(0);
}
