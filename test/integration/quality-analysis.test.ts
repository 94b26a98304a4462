import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { MediaProcessError, runFfmpeg } from "../../src/media/process.ts";
import { analyzeMedia } from "../../src/quality/analyze.ts";
import { FileFollower } from "../../src/recorders/core/follow-file.ts";
import { fixtureDir, makeFlashBeepMp4, makeUndecodableVideoMkv } from "../support/media-fixtures.ts";

// The quality analysis on real files made with ffmpeg: a moving picture that flashes white at the start
// of every second with a beep at the same instant (so the A/V offset is known), then the same with the
// picture frozen for 3 s and the sound 200 ms late, then files with only sound or only picture. What is
// checked is what a user reads in the report: the grade and why, where the faults are, the offset.

let dir: ReturnType<typeof fixtureDir>;
const files: Record<string, string> = {};

before(async () => {
  dir = fixtureDir("tapedeck-quality-test-");
  const at = (name: string) => path.join(dir.dir, name);
  files.clean = await makeFlashBeepMp4(at("clean.mp4"));
  files.frozenLate = await makeFlashBeepMp4(at("frozen-late.mp4"), { freeze: [4, 7], audioDelayMs: 200 });
  files.audioOnly = await makeFlashBeepMp4(at("audio-only.m4a"), { video: false });
  files.videoOnly = await makeFlashBeepMp4(at("video-only.mp4"), { audio: false });
  files.faults = await makeFlashBeepMp4(at("faults.mp4"), { black: [2, 4.5], mute: [4.5, 8], clip: [9, 11] });
  files.undecodable = await makeUndecodableVideoMkv(at("undecodable.mkv"), files.clean);
});

/** Each span within 0.15 s of its expected [start, end]. */
function assertSpans(actual: Array<{ start: number; end: number }>, expected: Array<[number, number]>, what: string) {
  const near =
    actual.length === expected.length &&
    actual.every((s, i) => Math.abs(s.start - expected[i][0]) <= 0.15 && Math.abs(s.end - expected[i][1]) <= 0.15);
  assert.ok(near, `${what}: ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
}

after(() => dir?.remove());

test("a clean file is good: no frozen or black span, sound and picture in sync, 30 frames every second", async () => {
  const r = await analyzeMedia(files.clean, { expectVideo: true, expectAudio: true });
  assert.equal(r.grade, "good", r.reasons.join("; "));
  assert.deepEqual(r.reasons, []);
  assert.deepEqual(r.file.video, { width: 640, height: 360, fps: 30 });
  assert.deepEqual(r.file.audio, { sample_rate: 48000, channels: 2 });
  assert.ok(Math.abs(r.file.duration - 12) < 0.1, `duration ${r.file.duration}`);
  assert.deepEqual([r.spans.frozen, r.spans.black, r.spans.clipping, r.spans.silence], [[], [], [], []]);

  assert.ok(r.av_offset.ms !== null && Math.abs(r.av_offset.ms) <= 40, `A/V offset ${r.av_offset.ms} ms (${r.av_offset.note})`);
  assert.ok(r.av_offset.events >= 10, `${r.av_offset.events} flashes paired with beeps, of 11`);
  const perSecond = r.timeline.av_offset_ms.filter((v) => v !== null);
  assert.ok(perSecond.length >= 10 && perSecond.every((v) => Math.abs(v) <= 40), `per second: ${r.timeline.av_offset_ms}`);

  // Every whole second has its 30 frames; a last second cut short by the sound's end may have none.
  const whole = r.timeline.fps.slice(0, 12);
  assert.deepEqual(whole, new Array(12).fill(30), `fps per second: ${r.timeline.fps}`);
  assert.ok(r.timeline.fps.length <= 13);
  assert.equal(r.timeline.bitrate_kbps.length, r.timeline.fps.length);
  assert.ok(
    r.timeline.bitrate_kbps.slice(0, 12).every((k) => k > 100),
    `kbps per second: ${r.timeline.bitrate_kbps}`,
  );
  assert.ok(r.analysis.seconds > 0);
});

test("a picture frozen for 3 s and sound 200 ms late: degraded, the freeze found where it is, the offset measured", async () => {
  const r = await analyzeMedia(files.frozenLate, { expectVideo: true, expectAudio: true });
  assert.equal(r.grade, "degraded", r.reasons.join("; "));
  assert.equal(r.spans.frozen.length, 1, JSON.stringify(r.spans.frozen));
  assertSpans(r.spans.frozen, [[4, 7]], "frozen");
  assert.deepEqual(r.spans.black, []);
  assert.ok(r.av_offset.ms !== null && Math.abs(r.av_offset.ms - 200) <= 40, `A/V offset ${r.av_offset.ms} ms (${r.av_offset.note})`);
  assert.ok(
    r.reasons.some((s) => /^the picture froze for 3\.\d s at 0:0[34]$/.test(s)),
    r.reasons.join("; "),
  );
  assert.ok(
    r.reasons.some((s) => /^the sound is \d+ ms behind the picture$/.test(s)),
    r.reasons.join("; "),
  );
  // The frozen picture still has its 30 frames a second: it is still, not slow.
  assert.deepEqual(r.timeline.fps.slice(0, 12), new Array(12).fill(30));
});

test("a black picture, a silent stretch and clipped beeps: each found where it is, and silence does not lower the grade", async () => {
  const r = await analyzeMedia(files.faults, { expectVideo: true, expectAudio: true });
  assert.equal(r.grade, "degraded", r.reasons.join("; "));
  assert.equal(r.reasons.length, 2, r.reasons.join("; "));
  assert.equal(r.reasons[0], "the picture was black for 2.5 s at 0:02");
  assert.match(r.reasons[1], /^the sound clipped for 1\.\d% of the file, the first time at 0:09$/);
  assertSpans(r.spans.black, [[2, 4.5]], "black");
  assert.deepEqual(r.spans.frozen, [], "a black picture is still too, but it is reported once, as black");
  assertSpans(r.spans.silence, [[4.1, 8]], "silence (from the end of the last beep before the mute)");
  assertSpans(
    r.spans.clipping,
    [
      [9, 9.1],
      [10, 10.1],
    ],
    "clipping",
  );
  assert.ok(r.av_offset.ms !== null && Math.abs(r.av_offset.ms) <= 40, `A/V offset ${r.av_offset.ms} ms (${r.av_offset.note})`);
});

test("a file with only sound is graded on its sound; a file with only picture is bad when sound was expected", async () => {
  const audio = await analyzeMedia(files.audioOnly, { expectAudio: true });
  assert.equal(audio.grade, "good", audio.reasons.join("; "));
  assert.equal(audio.file.video, null);
  assert.deepEqual(audio.file.audio, { sample_rate: 48000, channels: 2 });
  assert.deepEqual(audio.timeline.fps, []);
  assert.ok(audio.timeline.bitrate_kbps.length >= 12);
  assert.equal(audio.av_offset.ms, null);
  assert.equal(audio.av_offset.note, "there is no picture to measure it from");

  const video = await analyzeMedia(files.videoOnly, { expectVideo: true, expectAudio: true });
  assert.equal(video.grade, "bad");
  assert.deepEqual(video.reasons, ["there is no sound, although the file should have audio"]);
  assert.equal(video.file.audio, null);
  assert.deepEqual(video.timeline.fps.slice(0, 12), new Array(12).fill(30));
  // Without an expectation, a picture without sound is just a picture.
  assert.equal((await analyzeMedia(files.videoOnly)).grade, "good");
});

test("a picture that cannot be decoded at all is bad when video was expected, and the sound is still measured", async () => {
  const r = await analyzeMedia(files.undecodable, { expectVideo: true, expectAudio: true });
  assert.equal(r.grade, "bad");
  assert.deepEqual(r.reasons, ["no picture could be decoded, although the file should have video"]);
  assert.equal(r.file.video, null);
  assert.deepEqual(r.file.audio, { sample_rate: 48000, channels: 2 });
  assert.deepEqual(r.timeline.fps, []);
  assert.ok(r.timeline.bitrate_kbps.length >= 5 && r.timeline.bitrate_kbps.every((k) => k > 0), `kbps ${r.timeline.bitrate_kbps}`);
});

test("an analysis aborted while ffmpeg runs rejects as aborted (once ffmpeg has exited)", async () => {
  const ac = new AbortController();
  const log = {
    debug: (obj: object, msg?: string) => {
      // Aborted once the run is under way (the runner listens for the abort right after this line).
      if (msg === "media process spawned" && (obj as { tool?: string }).tool === "ffmpeg") setImmediate(() => ac.abort());
    },
    info: () => {},
    warn: () => {},
  };
  await assert.rejects(
    analyzeMedia(files.clean, { signal: ac.signal, log }),
    (err) => err instanceof MediaProcessError && err.code === "media_aborted",
  );
});

test("a file measured while it is written (a fragmented MP4 followed as it grows) has the length of all it got, not of its first fragment", async () => {
  // As a capture writes its spool: the header and the first fragment are there when the analysis starts
  // (it probes then); the rest is appended afterwards.
  const fragmented = path.join(dir.dir, "fragmented.mp4");
  await runFfmpeg([
    ...["-hide_banner", "-loglevel", "error", "-y", "-i", files.clean, "-c", "copy"],
    ...["-movflags", "frag_keyframe+empty_moov+default_base_moof", "-frag_duration", "1000000", fragmented],
  ]);
  const whole = fs.readFileSync(fragmented);
  const spool = path.join(dir.dir, "spool.mp4");
  const firstFragment = whole.indexOf("moof", whole.indexOf("moof") + 4) - 4; // up to the second fragment
  fs.writeFileSync(spool, whole.subarray(0, firstFragment));
  const follower = new FileFollower(spool);
  let analysing!: () => void;
  const passStarted = new Promise<void>((resolve) => (analysing = resolve));
  const log = {
    debug: (obj: object, msg?: string) => {
      if (msg === "media process spawned" && (obj as { tool?: string }).tool === "ffmpeg") analysing();
    },
    info: () => {},
    warn: () => {},
  };
  const report = analyzeMedia(spool, { follow: () => follower.stream(), log, expectVideo: true, expectAudio: true });
  // The spool was probed (its first fragment only) before the pass that follows it started.
  await passStarted;
  for (let at = firstFragment; at < whole.length; at += 256 * 1024) {
    fs.appendFileSync(spool, whole.subarray(at, Math.min(whole.length, at + 256 * 1024)));
    follower.grew();
  }
  follower.end();
  const r = await report;
  assert.ok(Math.abs(r.file.duration - 12) < 0.1, `duration ${r.file.duration}`);
  assert.deepEqual(r.timeline.fps.slice(0, 12), new Array(12).fill(30), `fps per second: ${r.timeline.fps}`);
  assert.equal(r.grade, "good", r.reasons.join("; "));
});
