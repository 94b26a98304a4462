import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, test } from "node:test";
import { MediaProcessError, probe, runFfmpeg, type MediaLog } from "../../src/media/process.ts";
import { fixtureDir, makeAudioWebm, makeVideoWebm } from "../support/media-fixtures.ts";
import { until } from "../support/wait.ts";

const tmp = fixtureDir("tapedeck-proc-");
after(() => tmp.remove());

/** A logger that keeps what it is told, to find the pid of a killed process. */
function memoryLog(): MediaLog & { lines: Array<{ msg?: string; obj: Record<string, unknown> }> } {
  const lines: Array<{ msg?: string; obj: Record<string, unknown> }> = [];
  const put = (obj: object, msg?: string) => lines.push({ obj: obj as Record<string, unknown>, msg });
  return { lines, debug: put, info: put, warn: put };
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const killedPid = (log: ReturnType<typeof memoryLog>): number => {
  const l = log.lines.find((x) => x.msg === "killing media process");
  assert.ok(l, "the runner logged the kill");
  return l.obj.pid as number;
};

const endless = ["-hide_banner", "-nostdin", "-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30", "-f", "null", "-"];

test("a failing run rejects with the exit code and ffmpeg's last words", async () => {
  const missing = path.join(tmp.dir, "missing.webm");
  const err = await runFfmpeg(["-hide_banner", "-nostdin", "-i", missing, "-f", "null", "-"]).catch((e: unknown) => e);
  assert.ok(err instanceof MediaProcessError, String(err));
  assert.equal(err.code, "media_failed");
  assert.equal(err.exitCode, 1);
  assert.match(err.message, /ffmpeg exited with code 1: .*No such file or directory/);
});

test("progress is reported from -progress pipe:1 and the run resolves with stderr's tail", async () => {
  const seen: number[] = [];
  const tail = await runFfmpeg(
    ["-hide_banner", "-nostdin", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=3", "-f", "null", "-"],
    { onProgress: (s) => seen.push(s) },
  );
  assert.equal(typeof tail, "string");
  assert.ok(seen.length >= 1, "progress reported");
  assert.ok(Math.abs(seen.at(-1)! - 3) < 0.1, `last progress ${seen.at(-1)} s`);
  assert.ok(
    seen.every((s, i) => i === 0 || s >= seen[i - 1]),
    "monotonic",
  );
});

test("a timeout kills the process before the promise settles", async () => {
  const log = memoryLog();
  const err = await runFfmpeg(endless, { timeoutMs: 300, log }).catch((e: unknown) => e);
  assert.ok(err instanceof MediaProcessError);
  assert.equal(err.code, "media_timeout");
  assert.ok(!alive(killedPid(log)), "ffmpeg is gone when the promise rejects");
});

test("an abort kills the process; an aborted signal never starts one", async () => {
  const ac = new AbortController();
  const log = memoryLog();
  const err = await runFfmpeg(endless, { signal: ac.signal, log, onProgress: () => ac.abort() }).catch((e: unknown) => e);
  assert.ok(err instanceof MediaProcessError);
  assert.equal(err.code, "media_aborted");
  assert.ok(!alive(killedPid(log)));
  const again = await runFfmpeg(endless, { signal: ac.signal }).catch((e: unknown) => e);
  assert.equal((again as MediaProcessError).code, "media_aborted");
});

test("a process that ignores SIGTERM is SIGKILLed after the grace period", async () => {
  // ffmpeg blocked in read(2) on a FIFO that has a writer but no data never returns to its main loop,
  // so it cannot act on SIGTERM. Deterministic: the abort comes only once the kernel shows it waiting
  // in a pipe read (well past installing its signal handlers).
  const fifo = path.join(tmp.dir, "stuck.fifo");
  execFileSync("mkfifo", [fifo]);
  const ac = new AbortController();
  const log = memoryLog();
  const run = runFfmpeg(["-hide_banner", "-nostdin", "-i", fifo, "-f", "null", "-"], { signal: ac.signal, killGraceMs: 300, log }).catch(
    (e: unknown) => e,
  );
  const pid = log.lines.find((l) => l.msg === "media process spawned")?.obj.pid as number;
  assert.ok(pid, "the runner logs the pid it spawned");
  let writer: number | null = null;
  try {
    // A non-blocking open for writing succeeds once ffmpeg has the FIFO open for reading (ENXIO before).
    writer = await until(
      () => {
        try {
          return fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "ENXIO") return null;
          throw err;
        }
      },
      "ffmpeg opening the FIFO",
      10_000,
      10,
    );
    await until(() => fs.readFileSync(`/proc/${pid}/wchan`, "utf8").includes("pipe_read"), "ffmpeg blocked in a pipe read", 10_000, 10);
    ac.abort();
    const err = await run;
    assert.ok(err instanceof MediaProcessError);
    assert.equal(err.code, "media_aborted");
    assert.equal(err.exitSignal, "SIGKILL");
    assert.ok(!alive(pid));
  } finally {
    if (writer !== null) fs.closeSync(writer);
  }
});

test("a run whose output time stops advancing is killed as stalled", async () => {
  const fifo = path.join(tmp.dir, "stalled.fifo");
  execFileSync("mkfifo", [fifo]);
  const log = memoryLog();
  const err = await runFfmpeg(["-hide_banner", "-nostdin", "-i", fifo, "-f", "null", "-"], {
    stallTimeoutMs: 300,
    killGraceMs: 200,
    log,
  }).catch((e: unknown) => e);
  assert.ok(err instanceof MediaProcessError);
  assert.equal(err.code, "media_stalled");
  assert.match(err.message, /ffmpeg made no progress for 300 ms and was killed/);
  assert.ok(!alive(killedPid(log)));
  // A run that keeps advancing is not stalled, however long it takes.
  await runFfmpeg(
    ["-hide_banner", "-nostdin", "-re", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30:duration=1.5", "-f", "null", "-"],
    { stallTimeoutMs: 1000 },
  );
});

test("a missing ffmpeg is reported as such, with the way to install it", async () => {
  const saved = process.env.PATH;
  process.env.PATH = tmp.dir; // no ffmpeg or ffprobe in there
  try {
    const err = await runFfmpeg(["-version"]).catch((e: unknown) => e);
    assert.ok(err instanceof MediaProcessError);
    assert.equal(err.code, "media_missing_tool");
    assert.match(err.message, /ffmpeg is not installed \(apt-get install -y ffmpeg\)/);
    assert.equal(((await probe("x.webm").catch((e: unknown) => e)) as MediaProcessError).code, "media_missing_tool");
  } finally {
    process.env.PATH = saved;
  }
});

test("probe reports codecs, sizes and durations of MediaRecorder-shaped fixtures", async () => {
  const v = await makeVideoWebm(path.join(tmp.dir, "v.webm"), { seconds: 2, color: "red" });
  const a = await makeAudioWebm(path.join(tmp.dir, "a.webm"), { seconds: 2, frequency: 500 });
  const h = await makeVideoWebm(path.join(tmp.dir, "h.webm"), { seconds: 2, codec: "h264", width: 1280, height: 720 });
  const [pv, pa, ph] = await Promise.all([probe(v), probe(a), probe(h)]);
  assert.deepEqual(
    [pv.formatName, pv.streams.map((s) => `${s.codec_type}/${s.codec_name}/${s.width}x${s.height}`)],
    ["matroska,webm", ["video/vp8/640x360"]],
  );
  assert.deepEqual(
    pa.streams.map((s) => `${s.codec_type}/${s.codec_name}/${s.sample_rate}`),
    ["audio/opus/48000"],
  );
  assert.deepEqual(
    ph.streams.map((s) => `${s.codec_type}/${s.codec_name}/${s.width}x${s.height}`),
    ["video/h264/1280x720"],
  );
  for (const p of [pv, pa, ph]) assert.ok(Math.abs(p.durationSeconds - 2) < 0.1 && p.sizeBytes > 0, JSON.stringify(p));
  const err = await probe(path.join(tmp.dir, "nope.webm")).catch((e: unknown) => e);
  assert.equal((err as MediaProcessError).tool, "ffprobe");
});
