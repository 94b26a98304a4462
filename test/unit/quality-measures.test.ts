import assert from "node:assert/strict";
import { test } from "node:test";
import { buildAnalysisArgs, filterPath } from "../../src/quality/analysis-args.ts";
import { offsetTimeline, pairEvents, pictureChanges, soundOnsets, steadyOffset } from "../../src/quality/av-offset.ts";
import { channelCount, packetListingReader, printedFrameReader } from "../../src/quality/ffmpeg-output.ts";
import { joinPictures, type PictureMeasure } from "../../src/quality/picture.ts";

// The quality analysis' pure parts: how picture changes and sound onsets are found and paired into an
// A/V offset, and how ffmpeg's printed output is read. Real ffmpeg output is checked end to end in
// test/integration/quality-analysis.test.ts.

/** Times from `from` to `to` (exclusive) every `step` s, and a value for each. */
function series(to: number, step: number, value: (t: number) => number): { t: number[]; v: number[] } {
  const t: number[] = [];
  for (let i = 0; i * step < to - 1e-9; i++) t.push(Math.round(i * step * 1e6) / 1e6);
  return { t, v: t.map(value) };
}
const flashAt =
  (starts: number[], length = 0.1) =>
  (t: number) =>
    starts.some((s) => t >= s - 1e-9 && t < s + length - 1e-9) ? 235 : 100;

test("a picture change is a flash's start, after a steady quarter second; its end and a flash at the very start are not", () => {
  const { t, v } = series(4, 1 / 30, flashAt([0, 1, 2, 2.2, 3]));
  // 0: no picture before it; 2.2: 0.1 s after the flash at 2 ended; each flash's end: 0.1 s after its start.
  assert.deepEqual(
    pictureChanges(t, v).map((x) => Math.round(x * 1000)),
    [1000, 2000, 3000],
  );
  // A slowly changing picture (a pan, a fade) changes nothing sharply.
  const slow = series(4, 1 / 30, (x) => 50 + 40 * x);
  assert.deepEqual(pictureChanges(slow.t, slow.v), []);
});

test("a sound onset is a window far louder than the quarter second before it, placed within its window", () => {
  const beep =
    (starts: number[], db = -9) =>
    (t: number) =>
      starts.some((s) => t >= s - 1e-9 && t < s + 0.1 - 1e-9) ? db : Number.NEGATIVE_INFINITY;
  const { t, v } = series(3, 0.01, beep([0.1, 1, 2.05]));
  // 0.1: not a quarter second of sound before it to rise from.
  assert.deepEqual(
    soundOnsets(t, v, 0.01).map((x) => Math.round(x * 1000)),
    [1000, 2050],
  );
  // A beep starting half-way through a window gives it half the energy (3 dB less): placed half-way.
  v[t.indexOf(1.49)] = -12;
  v[t.indexOf(1.5)] = -9;
  assert.deepEqual(
    soundOnsets(t, v, 0.01).map((x) => Math.round(x * 1000)),
    [1000, 1495, 2050],
  );
  // A rise of less than 12 dB over what came before, or one below -45 dBFS, is no onset.
  const noisy = series(3, 0.01, (x) => (x >= 1 && x < 1.1 ? -30 : -40));
  assert.deepEqual(soundOnsets(noisy.t, noisy.v, 0.01), []);
  const faint = series(3, 0.01, (x) => (x >= 1 && x < 1.1 ? -50 : Number.NEGATIVE_INFINITY));
  assert.deepEqual(soundOnsets(faint.t, faint.v, 0.01), []);
});

test("pairs: each picture change with the nearest onset within 500 ms; the offset is their median, positive when the sound is late", () => {
  const changes = [1, 2, 3, 4, 5];
  const pairs = pairEvents(changes, [1.21, 2.2, 3.19, 4.2, 5.7, 9]);
  assert.deepEqual(
    pairs.map((p) => [p.at, Math.round(p.lagMs)]),
    [
      [1, 210],
      [2, 200],
      [3, 190],
      [4, 200],
    ],
  );
  assert.deepEqual(steadyOffset(pairs), { ms: 200 });
  assert.deepEqual(steadyOffset(pairEvents(changes, [0.9, 1.9, 2.9, 3.9])), { ms: -100 });
});

test("too few pairs, or pairs that do not agree, measure nothing, and say why", () => {
  assert.deepEqual(steadyOffset(pairEvents([1, 2], [1.2, 2.2])), {
    ms: null,
    note: "only 2 sharp picture changes came with a sound onset within 500 ms (3 are needed)",
  });
  // Chance pairs (a slide change near a word) scatter.
  const scattered = pairEvents([1, 3, 5, 7, 9, 11], [1.4, 2.8, 5.1, 6.6, 9.25, 10.55]);
  assert.equal(scattered.length, 6);
  assert.deepEqual(steadyOffset(scattered), {
    ms: null,
    note: "the 6 picture changes paired with sound onsets do not line up (their lags disagree)",
  });
});

test("the per-second offset is measured over the 10 s around each second, null where there is too little", () => {
  // A flash every second for 20 s; the sound drifts from in sync to 100 ms late at 10 s; nothing after 20 s.
  const changes = Array.from({ length: 20 }, (_, i) => i + 0.5);
  const pairs = pairEvents(
    changes,
    changes.map((c) => c + (c < 10 ? 0 : 0.1)),
  );
  const timeline = offsetTimeline(pairs, 30);
  assert.equal(timeline.length, 30);
  assert.equal(timeline[2], 0);
  assert.equal(timeline[17], 100);
  assert.equal(timeline[29], null);
});

test("metadata print lines: one frame per header, its time from the integer pts (µs), its keys", () => {
  const frames: Array<{ t: number; tags: Record<string, string> }> = [];
  const r = printedFrameReader((f) => frames.push(f));
  for (const l of [
    "frame:0    pts:0       pts_time:0",
    "lavfi.signalstats.YAVG=100.5",
    "frame:1    pts:10000123456 pts_time:10000.1",
    "lavfi.freezedetect.freeze_start=9998",
    "lavfi.freezedetect.freeze_duration=2.00012",
    "frame:2    pts:NOPTS   pts_time:NOPTS",
    "lavfi.signalstats.YAVG=1",
  ])
    r.line(l);
  r.end();
  assert.deepEqual(frames, [
    { t: 0, tags: { "lavfi.signalstats.YAVG": "100.5" } },
    { t: 10000.123456, tags: { "lavfi.freezedetect.freeze_start": "9998", "lavfi.freezedetect.freeze_duration": "2.00012" } },
  ]);
});

test("the framecrc listing gives bytes per second, the video's packets and the sound's channels", () => {
  const r = packetListingReader();
  for (const l of [
    "#software: Lavf59.27.100",
    "#tb 0: 1/15360",
    "#media_type 0: video",
    "#codec_id 0: h264",
    "#dimensions 0: 640x360",
    "#sar 0: 1/1",
    "#tb 1: 1/48000",
    "#media_type 1: audio",
    "#codec_id 1: aac",
    "#sample_rate 1: 48000",
    "#channel_layout_name 1: stereo",
    "0,          0,          0,      512,    10000, 0x1f2e3d4c",
    "1,          0,          0,     1024,      400, 0x00000001",
    "0,        512,       1024,      512,     2000, 0x1f2e3d4c, F=0x0",
    "1,      48000,      48000,     1024,      300, 0x00000001",
    "0,      15360, -9223372036854775808,  512,  500, 0x1f2e3d4c",
  ])
    r.line(l);
  const out = r.result();
  assert.deepEqual(out.bytesPerSecond, [12400, 800]);
  assert.deepEqual(out.video, { packets: 3, first: 0, last: 1 });
  assert.equal(out.audioChannels, 2);
});

test("channel layouts are counted", () => {
  const counts = ["mono", "stereo", "5.1(side)", "7.1", "7.1.4", "22.2", "quad", "3 channels (FL+FR+LFE)", "2 channels", "unknown"].map(
    channelCount,
  );
  assert.deepEqual(counts, [1, 2, 6, 8, 12, 24, 4, 3, 2, null]);
});

test("the analysis is one ffmpeg run: only the streams there are, and a file path cannot break out of the filtergraph", () => {
  const out = { events: "/tmp/q/ev.txt", luma: "/tmp/q/l.txt", levels: "/tmp/q/a.txt", packets: "/tmp/q/p.txt" };
  const both = buildAnalysisArgs("/in.mp4", { video: true, audio: { sampleRate: 44100 }, packets: true }, out);
  assert.equal(both.filter((a) => a === "-i").length, 1);
  const graph = both[both.indexOf("-filter_complex") + 1];
  assert.match(graph, /^\[0:v:0\]settb=AVTB,scale=160:-2/);
  assert.match(graph, /;\[0:a:0\]asettb=AVTB,asetnsamples=n=441:/);
  // The packets are copied, not decoded.
  assert.deepEqual(both.slice(-6), ["-c", "copy", "-copyinkf", "-f", "framecrc", "/tmp/q/p.txt"]);
  const audioOnly = buildAnalysisArgs("/in.m4a", { video: false, audio: { sampleRate: 48000 }, packets: false }, out);
  assert.ok(!audioOnly.join(" ").includes("0:v:0") && !audioOnly.includes("framecrc"));
  assert.equal(filterPath("/tmp/a:b,c'd[e];f"), "/tmp/a\\\\:b\\,c\\\\\\'d\\[e\\]\\;f");
});

/** A piece's measure: frames every 1/30 s from `t0` for `seconds`, mean luma from `y`, and its spans. */
function piece(t0: number, seconds: number, y: (t: number) => number, spans: Partial<Pick<PictureMeasure, "frozen" | "black">> = {}) {
  const t = series(seconds, 1 / 30, () => 0).t.map((x) => x + t0);
  return { version: 1 as const, t, y: t.map(y), frozen: spans.frozen ?? [], black: spans.black ?? [], end: t0 + seconds };
}

test("pieces measured apart are joined: times placed, and a still or black stretch cut by a boundary made whole again", () => {
  // A still picture (luma 80) from 1.4 s to 2.7 s crosses the boundary at 2 s; a black one from 3.5 s to 4.6 s crosses 4 s.
  const y = (t: number) => (t >= 1.4 && t < 2.7 ? 80 : t >= 3.5 && t < 4.6 ? 16 : 100 + t);
  const joined = joinPictures([
    { at: 0, m: piece(0, 2, y, { frozen: [{ start: 1.4, end: 2 }] }) },
    // The second piece's own times start at 0 (as a piece file's do); its spans are in them.
    { at: 2, m: piece(0, 2, (t) => y(t + 2), { frozen: [{ start: 0, end: 0.7 }], black: [{ start: 1.5, end: 2 }] }) },
    { at: 4, m: piece(0, 2, (t) => y(t + 4), { black: [{ start: 0, end: 0.6 }] }) },
  ]);
  assert.equal(joined.t.length, 180);
  assert.ok(
    Math.abs(joined.t[60] - 2) < 1e-5 && Math.abs(joined.t[179] - (6 - 1 / 30)) < 1e-5,
    "each piece's frames where it is in the file",
  );
  assert.deepEqual(joined.frozen.map(r3), [{ start: 1.4, end: 2.7 }]);
  assert.deepEqual(joined.black.map(r3), [{ start: 3.5, end: 4.6 }]);
  assert.equal(joined.end, 6);
});

test("a still stretch ending at a boundary is not joined to one starting there when the picture changed at it", () => {
  const joined = joinPictures([
    { at: 0, m: piece(0, 2, () => 80, { frozen: [{ start: 0.5, end: 2 }] }) },
    { at: 2, m: piece(0, 2, () => 120, { frozen: [{ start: 0, end: 1.2 }] }) },
  ]);
  assert.deepEqual(joined.frozen.map(r3), [
    { start: 0.5, end: 2 },
    { start: 2, end: 3.2 },
  ]);
  // Nor a span that ends well before the boundary.
  const apart = joinPictures([
    { at: 0, m: piece(0, 2, () => 80, { frozen: [{ start: 0.2, end: 1.5 }] }) },
    { at: 2, m: piece(0, 2, () => 80, { frozen: [{ start: 0, end: 1.2 }] }) },
  ]);
  assert.equal(apart.frozen.length, 2);
});

const r3 = (s: { start: number; end: number }) => ({ start: Math.round(s.start * 1000) / 1000, end: Math.round(s.end * 1000) / 1000 });
