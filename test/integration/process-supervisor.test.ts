import assert from "node:assert/strict";
import { execFileSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { probe, runFfmpeg } from "../../src/media/process.ts";
import { NotReadyError, superviseProcess } from "../../src/process/supervisor.ts";
import { CaptureFfmpeg } from "../../src/recorders/core/capture-ffmpeg.ts";
import { FileFollower } from "../../src/recorders/core/follow-file.ts";
import { until } from "../support/wait.ts";

// The process supervisor with real child processes and real signals: small `node -e` programs that
// become ready, ignore SIGTERM, crash, start a grandchild, or never get ready; and the browser
// recorder's capture ffmpeg, which runs under it (a WebM like MediaRecorder's fed in chunks).

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-supervisor-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const node = (script: string) => ({ command: process.execPath, args: ["-e", script] });

/** Resolves with the first stdout line the child writes (its "ready" line). */
const firstLine = (child: ChildProcess): Promise<string> =>
  new Promise((resolve, reject) => {
    let buf = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      buf += d;
      const i = buf.indexOf("\n");
      if (i >= 0) resolve(buf.slice(0, i));
    });
    child.once("exit", () => reject(new Error("exited before its first line")));
  });

/** Gone, or a zombie waiting to be reaped (it runs no more). */
const gone = (pid: number): boolean => {
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z") ?? true;
  } catch {
    return true;
  }
};

const FOREVER = "setInterval(() => {}, 1000);";

test("a process that exits on its own with 0 ended 'exited'; with 3 'crashed', with its code and stderr tail", async () => {
  const ok = superviseProcess({ name: "ok", ...node("process.exit(0)") });
  await ok.ready;
  assert.equal((await ok.ended).reason, "exited");

  const crash = superviseProcess({ name: "crash", ...node("console.error('first'); console.error('disk on fire'); process.exit(3)") });
  const end = await crash.ended;
  assert.equal(end.reason, "crashed");
  assert.equal(end.code, 3);
  assert.equal(end.signal, null);
  assert.deepEqual(end.stderrTail, ["first", "disk on fire"]);
  assert.equal(crash.running, false);
});

test("stop() runs the graceful step first: end of stdin, and the process ends 'stopped'", async () => {
  const p = superviseProcess({
    name: "reader",
    ...node("process.stdin.on('end', () => { console.log('bye'); process.exit(0); }); process.stdin.resume(); console.log('ready');"),
    stdin: "pipe",
    stdout: "pipe",
    gracefulStop: "stdin-end",
    ready: (c) => firstLine(c).then(() => undefined),
  });
  await p.ready;
  const lines: string[] = [];
  p.child.stdout!.on("data", (d: string) => lines.push(d.trim()));
  const end = await p.stop();
  assert.equal(end.reason, "stopped");
  assert.equal(end.code, 0);
  assert.deepEqual(lines, ["bye"], "it shut down by itself, not by a signal");
  assert.equal(await p.stop(), end, "stop() again is the same end");
});

test("a forked child is ready on its IPC message and stops on one", async () => {
  const mod = path.join(tmp, "child.mjs");
  fs.writeFileSync(mod, "process.on('message', (m) => { if (m === 'stop') process.exit(0); }); process.send('ready');");
  const p = superviseProcess({
    name: "forked",
    command: mod,
    fork: true,
    gracefulStop: { message: "stop" },
    readyTimeoutMs: 10_000,
    ready: (c) => new Promise((resolve) => c.once("message", () => resolve())),
  });
  await p.ready;
  const end = await p.stop();
  assert.equal(end.reason, "stopped");
  assert.equal(end.code, 0);
});

test("a process that ignores SIGTERM is SIGKILLed after the grace and ends 'killed'", async () => {
  const p = superviseProcess({
    name: "stubborn",
    ...node(`process.on('SIGTERM', () => console.error('ignoring SIGTERM')); console.log('ready'); ${FOREVER}`),
    stdout: "pipe",
    killGraceMs: 300,
    ready: (c) => firstLine(c).then(() => undefined),
  });
  await p.ready;
  const t0 = performance.now();
  const end = await p.stop();
  assert.ok(performance.now() - t0 >= 290, "the grace was given");
  assert.equal(end.reason, "killed");
  assert.equal(end.signal, "SIGKILL");
  assert.deepEqual(end.stderrTail, ["ignoring SIGTERM"]);
  assert.ok(gone(p.pid!));
});

test("a process not ready in time is killed and ends 'timed_out'; so is one over its run limit", async () => {
  const p = superviseProcess({ name: "slow", ...node(FOREVER), readyTimeoutMs: 200, ready: () => new Promise(() => {}) });
  const err = await p.ready.catch((e: unknown) => e);
  assert.ok(err instanceof NotReadyError);
  assert.equal(err.timedOut, true);
  assert.match(err.message, /slow was not ready in time and was killed/);
  const end = await p.ended;
  assert.equal(end.reason, "timed_out");
  assert.equal(end.signal, "SIGTERM");
  assert.ok(gone(p.pid!));

  const long = superviseProcess({ name: "long", ...node(FOREVER), timeoutMs: 200 });
  await long.ready;
  assert.equal((await long.ended).reason, "timed_out");
});

test("a process that ends before it is ready rejects `ready` with how it ended", async () => {
  const p = superviseProcess({ name: "early", ...node("console.error('no config'); process.exit(2)"), ready: () => new Promise(() => {}) });
  const err = await p.ready.catch((e: unknown) => e);
  assert.ok(err instanceof NotReadyError);
  assert.equal(err.timedOut, false);
  assert.equal(err.end?.code, 2);
  assert.match(err.message, /early ended before it was ready: crashed, code 2: no config/);
});

test("stop() takes the whole process group: a grandchild that ignores SIGTERM does not survive", async () => {
  const grandchild = `process.on('SIGTERM', () => {}); ${FOREVER}`;
  const p = superviseProcess({
    name: "parent",
    ...node(
      `const c = require('child_process').spawn(process.execPath, ['-e', ${JSON.stringify(grandchild)}], { stdio: 'ignore' }); console.log(c.pid); ${FOREVER}`,
    ),
    stdout: "pipe",
    killGraceMs: 300,
    ready: async (c) => {
      grandPid = Number(await firstLine(c));
    },
  });
  let grandPid = 0;
  await p.ready;
  assert.ok(!gone(grandPid), "the grandchild runs");
  const end = await p.stop();
  assert.equal(end.reason, "stopped", "the parent itself went on SIGTERM");
  await until(() => gone(grandPid), "the grandchild to be gone", 2000, 10);
});

/** A process's process group and session ids (/proc/<pid>/stat fields 5 and 6). */
function groupAndSession(pid: number | "self"): { pgrp: number; session: number } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { pgrp: Number(fields[2]), session: Number(fields[3]) };
}

test('group "shared" stays in this process\'s group and session (one scheduling group); the default leads its own', async () => {
  const mine = groupAndSession("self");
  const shared = superviseProcess({ name: "shared", ...node(FOREVER), group: "shared", killGraceMs: 300 });
  const own = superviseProcess({ name: "own", ...node(FOREVER), killGraceMs: 300 });
  assert.deepEqual(groupAndSession(shared.pid!), mine, "a shared child is in this process's group and session");
  assert.deepEqual(groupAndSession(own.pid!), { pgrp: own.pid!, session: own.pid! }, "the default child leads its own");
  const [a, b] = await Promise.all([shared.stop(), own.stop()]);
  assert.equal(a.reason, "stopped");
  assert.equal(a.signal, "SIGTERM", "the shared child's stop reached it by its pid");
  assert.equal(b.reason, "stopped");
});

test("kill() is SIGKILL at once; an abort signal stops", async () => {
  const p = superviseProcess({ name: "k", ...node(FOREVER) });
  await p.ready;
  const end = await p.kill();
  assert.equal(end.reason, "killed");
  assert.equal(end.signal, "SIGKILL");

  const ac = new AbortController();
  const q = superviseProcess({ name: "a", ...node(FOREVER), signal: ac.signal });
  await q.ready;
  ac.abort();
  assert.equal((await q.ended).reason, "stopped");
});

test("a missing binary ends 'spawn_failed' with the error, and is never ready", async () => {
  const p = superviseProcess({ name: "nope", command: path.join(tmp, "no-such-binary") });
  assert.equal(p.pid, undefined);
  const end = await p.ended;
  assert.equal(end.reason, "spawn_failed");
  assert.equal(end.error?.code, "ENOENT");
  const err = await p.ready.catch((e: unknown) => e);
  assert.ok(err instanceof NotReadyError);
  assert.match(err.message, /nope ended before it was ready: spawn failed: ENOENT/);
  assert.equal((await p.stop()).reason, "spawn_failed", "stop() on it is harmless");
});

test("groups still running when the owning Node process exits are killed by its exit hook", async () => {
  const script = `
    import { superviseProcess } from ${JSON.stringify(path.resolve("src/process/supervisor.ts"))};
    const p = superviseProcess({ name: "orphan", command: process.execPath, args: ["-e", "process.on('SIGTERM', () => {}); ${FOREVER}"] });
    console.log(p.pid);
    process.exit(0);`;
  const pid = Number(execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8" }).trim());
  assert.ok(pid > 0);
  await until(() => gone(pid), "the orphan to be gone", 2000, 10);
});

// The capture ffmpeg (recorders/core/capture-ffmpeg.ts) under the supervisor.

const silent = { debug() {}, info() {}, warn() {}, error() {} };

/** 3 s of H.264 (no B-frames) + Opus stereo, as MediaRecorder writes it, cut into ~0.5 s chunks. */
async function captureChunks(): Promise<Buffer[]> {
  const file = path.join(tmp, "capture.mkv");
  if (!fs.existsSync(file)) {
    await runFfmpeg(
      ["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=3"]
        .concat(["-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000:duration=3", "-c:v", "libx264", "-preset", "ultrafast"])
        .concat([
          "-profile:v",
          "baseline",
          "-bf",
          "0",
          "-g",
          "60",
          "-pix_fmt",
          "yuv420p",
          "-c:a",
          "libopus",
          "-ac",
          "2",
          "-f",
          "matroska",
          file,
        ]),
    );
  }
  const data = fs.readFileSync(file);
  const size = Math.ceil(data.length / 6);
  return Array.from({ length: 6 }, (_, i) => data.subarray(i * size, (i + 1) * size));
}

const readAll = async (f: FileFollower): Promise<number> => {
  let n = 0;
  for await (const chunk of f.stream()) n += (chunk as Buffer).length;
  return n;
};

test("the capture ffmpeg: a stop ends its input, it finishes the MP4 in the spool and exits 0; the follower reads it all", async () => {
  const spool = path.join(tmp, "stop.mp4");
  const follower = new FileFollower(spool);
  const ff = new CaptureFfmpeg({ spoolFile: spool, follower, log: silent });
  const read = readAll(follower);
  const chunks = await captureChunks();
  for (const c of chunks) ff.write(c);
  ff.stop();
  assert.equal(await ff.ended, "ffmpeg exited (code 0)", "a quiet stderr: no line after the exit");
  assert.equal(
    ff.chunkBytes,
    chunks.reduce((n, c) => n + c.length, 0),
  );
  assert.equal(ff.bytes, fs.statSync(spool).size);
  assert.ok(ff.firstDataAt !== null);
  assert.equal(await read, ff.bytes, "the follower ended after the last byte");
  const p = await probe(spool);
  assert.deepEqual(p.streams.map((s) => s.codec_name).sort(), ["aac", "h264"]);
  assert.ok(p.durationSeconds > 2.5, `${p.durationSeconds} s`);
  ff.write(chunks[0]); // after the end of its input: dropped, not an error
});

test("the capture ffmpeg: kill() is SIGKILL; input it cannot read ends it with its last stderr line", async () => {
  const spool = path.join(tmp, "kill.mp4");
  const killed = new CaptureFfmpeg({ spoolFile: spool, follower: new FileFollower(spool), log: silent });
  killed.write((await captureChunks())[0]);
  killed.kill();
  assert.equal(await killed.ended, "ffmpeg exited (SIGKILL)");

  const junk = new CaptureFfmpeg({ spoolFile: spool, follower: new FileFollower(spool), log: silent });
  junk.write(Buffer.alloc(64 * 1024, 7));
  junk.stop();
  const why = await junk.ended;
  assert.match(why, /^ffmpeg exited \(code [1-9]\d*\): .+/);
  assert.equal(junk.bytes, 0);
});
