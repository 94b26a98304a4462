import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { runFfmpeg } from "../../src/media/process.ts";
import { undecodable } from "../../src/recorders/compose/track-check.ts";
import { fixtureDir } from "../support/media-fixtures.ts";

// The compose's check of a downloaded track (track-check.ts): a track decodes when ffmpeg gets a first
// frame of its kind out of it. Each way an upload can be of no use gives its reason; a whole one passes;
// a run that did not end by itself is not blamed on the file. Tiny WebMs made by ffmpeg, one second each.

let dir: ReturnType<typeof fixtureDir>;
let good: string;
let audioOnly: string;
const work = () => path.join(dir.dir, "checks");

before(async () => {
  dir = fixtureDir("tapedeck-track-check-");
  good = path.join(dir.dir, "good.webm");
  audioOnly = path.join(dir.dir, "audio.webm");
  await runFfmpeg([
    ...["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=c=red:s=160x90:r=30:d=1"],
    ...["-f", "lavfi", "-i", "sine=f=440:r=48000:d=1", "-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libopus", "-shortest", good],
  ]);
  await runFfmpeg([
    "-hide_banner",
    "-loglevel",
    "error",
    "-y",
    "-f",
    "lavfi",
    "-i",
    "sine=f=440:r=48000:d=1",
    "-c:a",
    "libopus",
    audioOnly,
  ]);
});

after(() => dir?.remove());

/** A copy of `good` with its bytes from `at` on replaced by garbage (same length). */
function damaged(name: string, at: number): string {
  const b = fs.readFileSync(good);
  const out = path.join(dir.dir, name);
  fs.writeFileSync(out, Buffer.concat([b.subarray(0, at), Buffer.alloc(b.length - at, 0x07)]));
  return out;
}

test("a whole track decodes, video and audio; the check leaves no file behind", async () => {
  assert.equal(await undecodable(good, "video", { workDir: work() }), null);
  assert.equal(await undecodable(good, "audio", { workDir: work() }), null);
  assert.equal(await undecodable(audioOnly, "audio", { workDir: work() }), null);
  assert.deepEqual(fs.readdirSync(work()), []);
});

test("no media file at all: ffmpeg's reason, without the file's path", async () => {
  const bad = damaged("garbage.webm", 0);
  assert.deepEqual(await undecodable(bad, "video", { workDir: work() }), { reason: "Invalid data found when processing input" });
});

test("a whole header and no frame that decodes (what ffprobe alone lets through): no frame", async () => {
  const first = spawnSync("ffprobe", ["-v", "error", "-show_entries", "packet=pos", "-read_intervals", "%+#1", "-of", "csv=p=0", good], {
    encoding: "utf8",
  });
  const bad = damaged("header-only.webm", Number.parseInt(first.stdout, 10));
  const probed = spawnSync("ffprobe", ["-v", "error", "-show_streams", bad]);
  assert.equal(probed.status, 0, "ffprobe reads its header without complaint");
  assert.deepEqual(await undecodable(bad, "video", { workDir: work() }), { reason: "no video frame could be decoded from it" });
  assert.deepEqual(await undecodable(bad, "audio", { workDir: work() }), { reason: "no audio frame could be decoded from it" });
});

test("no stream of the track's kind", async () => {
  assert.deepEqual(await undecodable(audioOnly, "video", { workDir: work() }), { reason: "it has no video stream" });
});

test("a run stopped from outside is thrown, not blamed on the file", async () => {
  const ac = new AbortController();
  ac.abort();
  await assert.rejects(undecodable(good, "video", { workDir: work(), signal: ac.signal }), {
    name: "MediaProcessError",
    code: "media_aborted",
  });
});
