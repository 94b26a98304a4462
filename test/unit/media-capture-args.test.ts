import assert from "node:assert/strict";
import { test } from "node:test";
import { buildCaptureMp4Args, webmPipeInputArgs } from "../../src/media/ffmpeg-args.ts";
import { DEFAULT_LAYERS, ladderArgs } from "../../src/recorders/hls/ladder.ts";

// The recorder page's WebM arrives on ffmpeg's stdin for two consumers, the browser recording's MP4
// writer and the live stream's ladder: both open it with the same input options, built in one place.

const inputOf = (args: string[]) => args.slice(0, args.indexOf("pipe:0") + 1);

test("the WebM pipe input: stdin as WebM, errors only and no progress line, probing cut short", () => {
  const a = webmPipeInputArgs();
  assert.deepEqual(a.slice(-4), ["-f", "webm", "-i", "pipe:0"]);
  assert.equal(a[a.indexOf("-loglevel") + 1], "error");
  assert.ok(a.includes("-nostats"), "stderr stays quiet for the whole run");
  assert.equal(a[a.indexOf("-probesize") + 1], "32768");
  assert.equal(a[a.indexOf("-analyzeduration") + 1], "0");
});

test("the MP4 writer and the ladder open the WebM with the same input options", () => {
  assert.deepEqual(inputOf(buildCaptureMp4Args()), webmPipeInputArgs());
  assert.deepEqual(inputOf(ladderArgs(DEFAULT_LAYERS.slice(1, 3), "/tmp/live", "veryfast")), webmPipeInputArgs());
});

test("the MP4 writer copies the video, makes the audio AAC and writes fragmented MP4 on stdout", () => {
  const a = buildCaptureMp4Args();
  const after = (flag: string) => a[a.indexOf(flag) + 1];
  assert.equal(after("-c:v"), "copy");
  assert.equal(after("-c:a"), "aac");
  assert.equal(after("-ar"), "48000");
  assert.deepEqual(
    a.filter((_x, i) => a[i - 1] === "-map"),
    ["0:v?", "0:a?"],
    "audio-only captures have no video stream",
  );
  assert.equal(after("-f"), "webm");
  assert.equal(a[a.lastIndexOf("-f") + 1], "mp4");
  assert.equal(after("-movflags"), "+frag_keyframe+empty_moov+default_base_moof");
  assert.equal(a.at(-1), "pipe:1");
});
