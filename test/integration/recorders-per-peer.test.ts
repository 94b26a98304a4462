import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { probe } from "../../src/media/process.ts";
import { renderPeerStream } from "../../src/recorders/per-peer.ts";
import { audioLevel, fixtureDir, makeAudioWebm, makeVideoWebm } from "../support/media-fixtures.ts";

const tmp = fixtureDir("tapedeck-peer-");
const f = (name: string) => path.join(tmp.dir, name);
after(() => tmp.remove());

before(async () => {
  await Promise.all([
    makeVideoWebm(f("vp8.webm"), { seconds: 6, color: "testsrc2", width: 640, height: 360 }),
    makeVideoWebm(f("h264.webm"), { seconds: 5, codec: "h264", color: "testsrc2", width: 1280, height: 720 }),
    makeAudioWebm(f("opus6.webm"), { seconds: 6, frequency: 440 }),
    makeAudioWebm(f("opus5.webm"), { seconds: 5, frequency: 660 }),
  ]);
});

const codecs = async (file: string) => (await probe(file)).streams.map((s) => `${s.codec_type}/${s.codec_name}`).sort();

test("VP8 + Opus → H.264 + AAC at the same size; the later audio starts with silence", async () => {
  const out = f("vp8.mp4");
  const r = await renderPeerStream({ video: { file: f("vp8.webm"), startMs: 10_000 }, audio: { file: f("opus6.webm"), startMs: 10_400 } }, { outFile: out });
  assert.deepEqual(r.video, { codec: "vp8", mode: "transcode", width: 640, height: 360 });
  const p = await probe(out);
  assert.deepEqual(await codecs(out), ["audio/aac", "video/h264"]);
  const v = p.streams.find((s) => s.codec_type === "video")!;
  assert.deepEqual([v.width, v.height], [640, 360]);
  assert.ok(Math.abs(p.durationSeconds - 6.4) < 0.5, `duration ${p.durationSeconds}`);
  assert.ok(Math.abs((v.nb_frames ?? 0) - 180) <= 2, `30 fps: ${v.nb_frames} frames for 6 s`);
  assert.ok((await audioLevel(out, 0, 0.35)) < 0.01, "silence before the audio track starts");
  assert.ok((await audioLevel(out, 0.5, 0.5)) > 0.05, "the tone after it starts (a sine at 1/8 amplitude: RMS 0.088)");
  assert.equal(r.sizeBytes, fs.statSync(out).size);
  assert.deepEqual(fs.readdirSync(tmp.dir).filter((n) => n.includes(".part-")), [], "no partial file left");
});

test("H.264 + Opus → the video copied untouched, the later video shifted", async () => {
  const out = f("h264.mp4");
  const r = await renderPeerStream({ video: { file: f("h264.webm"), startMs: 2300 }, audio: { file: f("opus5.webm"), startMs: 2000 } }, { outFile: out });
  assert.equal(r.video?.mode, "copy");
  const [pin, pout] = [await probe(f("h264.webm")), await probe(out)];
  assert.deepEqual(await codecs(out), ["audio/aac", "video/h264"]);
  const v = pout.streams.find((s) => s.codec_type === "video")!;
  assert.deepEqual([v.width, v.height], [1280, 720]);
  assert.equal(v.nb_frames, 150, "every frame copied");
  assert.ok(Math.abs(pout.durationSeconds - 5.3) < 0.5, `duration ${pout.durationSeconds}`);
  assert.ok(pout.sizeBytes > 0 && pin.sizeBytes > 0);
  assert.ok((await audioLevel(out, 0.1, 0.5)) > 0.05, "the audio, which started first, plays from 0");
});

test("audio only → an MP4 with AAC alone", async () => {
  const out = f("audio.mp4");
  const r = await renderPeerStream({ audio: { file: f("opus5.webm"), startMs: 0 } }, { outFile: out });
  assert.equal(r.video, undefined);
  assert.ok(r.hasAudio);
  const p = await probe(out);
  assert.deepEqual(await codecs(out), ["audio/aac"]);
  assert.ok(Math.abs(p.durationSeconds - 5) < 0.5, `duration ${p.durationSeconds}`);
});

test("a track file without the stream it should hold is refused before ffmpeg runs", async () => {
  await assert.rejects(renderPeerStream({ video: { file: f("opus5.webm"), startMs: 0 } }, { outFile: f("bad.mp4") }), /has no video stream/);
  assert.ok(!fs.existsSync(f("bad.mp4")));
});
