import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { probe } from "../../src/media/process.ts";
import { analyzeMedia, type Span } from "../../src/quality/analyze.ts";
import { pieceSource, renderPeerStream } from "../../src/recorders/sfu/per-peer.ts";
import { renderWrittenPieces } from "../../src/recorders/sfu/per-peer-pieces.ts";
import { runFfmpeg } from "../../src/media/process.ts";
import { audioLevel, fixtureDir, makeAudioWebm, makeVideoWebm, makeWeriftVideoWebm } from "../support/media-fixtures.ts";

const tmp = fixtureDir("tapedeck-peer-");
const f = (name: string) => path.join(tmp.dir, name);
after(() => (process.env.KEEP_TMP ? console.log(tmp.dir) : tmp.remove()));

before(async () => {
  await Promise.all([
    makeVideoWebm(f("vp8.webm"), { seconds: 6, color: "testsrc2", width: 640, height: 360 }),
    makeVideoWebm(f("h264.webm"), { seconds: 5, codec: "h264", color: "testsrc2", width: 1280, height: 720 }),
    makeWeriftVideoWebm(f("werift-h264.webm"), { seconds: 4, codec: "h264", width: 640, height: 360 }),
    makeAudioWebm(f("opus6.webm"), { seconds: 6, frequency: 440 }),
    makeAudioWebm(f("opus5.webm"), { seconds: 5, frequency: 660 }),
  ]);
});

const codecs = async (file: string) => (await probe(file)).streams.map((s) => `${s.codec_type}/${s.codec_name}`).sort();

test("VP8 + Opus → H.264 + AAC at the same size; the later audio starts with silence", async () => {
  const out = f("vp8.mp4");
  const r = await renderPeerStream(
    { video: { file: f("vp8.webm"), startMs: 10_000 }, audio: { file: f("opus6.webm"), startMs: 10_400 } },
    { outFile: out },
  );
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
  assert.deepEqual(
    fs.readdirSync(tmp.dir).filter((n) => n.includes(".part-")),
    [],
    "no partial file left",
  );
});

test("H.264 + Opus → the video copied untouched, the later video shifted", async () => {
  const out = f("h264.mp4");
  const r = await renderPeerStream(
    { video: { file: f("h264.webm"), startMs: 2300 }, audio: { file: f("opus5.webm"), startMs: 2000 } },
    { outFile: out },
  );
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

test("H.264 as werift writes it (no CodecPrivate, Annex B) is copied into a valid MP4", async () => {
  const out = f("werift-h264.mp4");
  const r = await renderPeerStream(
    { video: { file: f("werift-h264.webm"), startMs: 0 }, audio: { file: f("opus5.webm"), startMs: 0 } },
    { outFile: out },
  );
  assert.equal(r.video?.mode, "copy");
  const v = (await probe(out)).streams.find((s) => s.codec_type === "video")!;
  assert.deepEqual([v.codec_name, v.width, v.height, v.nb_frames], ["h264", 640, 360, 120]);
  // Every frame decodes: ffmpeg at loglevel error prints nothing.
  assert.equal((await runFfmpeg(["-hide_banner", "-loglevel", "error", "-nostdin", "-i", out, "-f", "null", "-"])).trim(), "");
});

test("a VP8 track that changes size midway (as Chromium does under congestion) keeps its first size", async () => {
  await makeVideoWebm(f("big.webm"), { seconds: 2, width: 640, height: 360 });
  await makeVideoWebm(f("small.webm"), { seconds: 2, width: 320, height: 180 });
  fs.writeFileSync(f("sizes.txt"), `file '${f("big.webm")}'\nfile '${f("small.webm")}'\n`);
  await runFfmpeg([
    "-hide_banner",
    "-loglevel",
    "error",
    "-nostdin",
    "-y",
    "-f",
    "concat",
    "-safe",
    "0",
    "-i",
    f("sizes.txt"),
    "-c",
    "copy",
    "-f",
    "webm",
    f("resize.webm"),
  ]);
  const out = f("resize.mp4");
  await renderPeerStream({ video: { file: f("resize.webm"), startMs: 0 } }, { outFile: out });
  const v = (await probe(out)).streams.find((s) => s.codec_type === "video")!;
  assert.deepEqual([v.width, v.height, v.nb_frames], [640, 360, 120]);
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
  await assert.rejects(
    renderPeerStream({ video: { file: f("opus5.webm"), startMs: 0 } }, { outFile: f("bad.mp4") }),
    /has no video stream/,
  );
  assert.ok(!fs.existsSync(f("bad.mp4")));
});

test("a VP8 video transcoded by pieces as it is written gives the frames of a whole transcode; the pieces made before the close are reused", async () => {
  // Each frame a flat grey of its own (luma 37*N mod 256): a frame out of place shows in the sequence.
  const video = f("frames.webm");
  await runFfmpeg([
    ...["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"],
    ...["-i", "color=c=black:s=320x180:r=30:d=6,geq=lum='mod(N*37,256)':cb=128:cr=128"],
    ...["-c:v", "libvpx", "-b:v", "400k", "-g", "30", "-deadline", "realtime", "-cpu-used", "8", video],
  ]);
  // The video starts 400 ms after the audio (12 black frames first); the session's chunks are 2 s, so the
  // pieces end at frames 48, 108 and 168 of the track, then its tail.
  const tracks = { video: { file: video, startMs: 10_400 }, audio: { file: f("opus6.webm"), startMs: 10_000 } };
  const whole = f("frames-whole.mp4");
  await renderPeerStream(tracks, { outFile: whole });
  const dir = f("pieces");
  const src = await pieceSource(tracks.video, tracks.audio);
  assert.deepEqual([src.width, src.height, src.padMs], [320, 180, 400]);
  // During the session, 4 s written: the first two pieces.
  assert.equal(await renderWrittenPieces(src, 4, { dir, chunkMs: 2000 }), 2);
  assert.equal(await renderWrittenPieces(src, 4, { dir, chunkMs: 2000 }), 0, "made once");
  const byPieces = f("frames-pieces.mp4");
  const r = await renderPeerStream(tracks, { outFile: byPieces, pieces: { dir, chunkMs: 2000 } });
  assert.deepEqual(r.video, { codec: "vp8", mode: "transcode", width: 320, height: 180 });

  const lumas = (file: string) => [
    ...execFileSync("ffmpeg", ["-v", "error", "-i", file, "-vf", "scale=1:1:flags=area,format=gray", "-f", "rawvideo", "-"], {
      maxBuffer: 1 << 24,
    }),
  ];
  const [a, b] = [lumas(whole), lumas(byPieces)];
  assert.equal(a.length, 192, "12 black frames, then the 180 of the track");
  assert.equal(b.length, a.length, "as many frames as the whole transcode");
  const off = b.map((v, i) => (Math.abs(v - a[i]) > 6 ? `${i}: ${a[i]} vs ${v}` : "")).filter(Boolean);
  assert.deepEqual(off, [], "every frame where the whole transcode has it");
  const [pa, pb] = [await probe(whole), await probe(byPieces)];
  assert.ok(Math.abs(pa.durationSeconds - pb.durationSeconds) < 0.05, `${pa.durationSeconds} s vs ${pb.durationSeconds} s`);
  assert.deepEqual(await codecs(byPieces), ["audio/aac", "video/h264"]);
  assert.deepEqual(
    fs.readdirSync(dir).filter((n) => !/^piece-\d{8}-(full|tail)-[0-9a-f]{12}\.mp4(\.picture\.json)?$/.test(n)),
    [],
    "only pieces and their measures left in their folder (no list, join or partial file)",
  );
  assert.equal(fs.readdirSync(dir).filter((n) => n.endsWith(".mp4")).length, 4, "three pieces and the tail");
  assert.equal(fs.readdirSync(dir).filter((n) => n.endsWith(".picture.json")).length, 4, "each piece's picture measured once");
});

test("a per-peer file made by pieces is measured by its pieces: the same report as a whole pass, a freeze and a black stretch across boundaries found whole", async () => {
  // A moving picture, still from 1.0 s to 2.3 s of the track and black from 3.1 s to 4.2 s. With the
  // 400 ms lead of the audio, they are at 1.4–2.7 s and 3.5–4.6 s of the file, across the pieces'
  // boundaries at 2 s and 4 s: each half is under a second, so neither piece sees a reportable span alone.
  const video = f("still.webm");
  await runFfmpeg([
    ...["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=320x180:r=30:d=6"],
    ...["-vf", "split[a][b];[a][b]freezeframes=first=30:last=68:replace=30,drawbox=enable='between(n,93,125)':color=black:t=fill"],
    ...["-c:v", "libvpx", "-b:v", "400k", "-g", "30", "-deadline", "realtime", "-cpu-used", "8", video],
  ]);
  const tracks = { video: { file: video, startMs: 10_400 }, audio: { file: f("opus6.webm"), startMs: 10_000 } };
  const dir = f("still-pieces");
  // Two pieces made (and measured) during the session; the third and the tail at the close.
  assert.equal(await renderWrittenPieces(await pieceSource(tracks.video, tracks.audio), 4, { dir, chunkMs: 2000 }), 2);
  const out = f("still.mp4");
  const r = await renderPeerStream(tracks, { outFile: out, pieces: { dir, chunkMs: 2000 } });
  assert.ok(r.picture, "the picture measured by pieces");
  const [byPieces, whole] = [await analyzeMedia(out, { picture: r.picture }), await analyzeMedia(out)];
  const near = (spans: Span[], want: Span[]) =>
    spans.length === want.length &&
    spans.every((s, i) => Math.abs(s.start - want[i].start) <= 0.15 && Math.abs(s.end - want[i].end) <= 0.15);
  for (const [name, report] of Object.entries({ byPieces, whole })) {
    assert.ok(near(report.spans.frozen, [{ start: 1.4, end: 2.7 }]), `${name}: frozen ${JSON.stringify(report.spans.frozen)}`);
    assert.ok(near(report.spans.black, [{ start: 3.5, end: 4.6 }]), `${name}: black ${JSON.stringify(report.spans.black)}`);
  }
  assert.deepEqual(byPieces.timeline.fps, whole.timeline.fps, "the frames of every second");
  assert.deepEqual(byPieces.timeline.bitrate_kbps, whole.timeline.bitrate_kbps);
  assert.deepEqual([byPieces.file, byPieces.grade, byPieces.reasons], [whole.file, whole.grade, whole.reasons]);
});
