import assert from "node:assert/strict";
import { test } from "node:test";
import { buildLevelArgs, parseLevels } from "../../src/media/audio-levels.ts";
import { buildSegmentArgs } from "../../src/media/composite-args.ts";
import { planCompose, planComposeSegments, speakerAt, type ComposePlanInput } from "../../src/recorders/compose/compose-plan.ts";
import { speakerTimeline } from "../../src/recorders/compose/speaker-timeline.ts";
import { layoutTiles } from "../../src/recorders/compositor/compositor-layout.ts";
import type { PeerPresence } from "../../src/recorders/sfu/composite-layout.ts";

// A session composed again: its segments (cut at joins, leaves, screen shares and speaker changes, inside
// the range), their tiles (the live compositor's layouts, on any canvas), who is heard, the speaker
// timeline from audio levels, and the ffmpeg pieces that measure the levels and draw a screen tile.

const canvas = { width: 1280, height: 720, fps: 30 };
const peer = (peerId: string, joinedAtMs: number, leftAtMs: number, more: Partial<PeerPresence> = {}): PeerPresence => ({
  peerId,
  name: peerId,
  joinedAtMs,
  leftAtMs,
  video: { file: `/t/${peerId}.webm`, startMs: joinedAtMs },
  audio: { file: `/t/${peerId}a.webm`, startMs: joinedAtMs },
  ...more,
});
const base = (o: Partial<ComposePlanInput>): ComposePlanInput => ({
  sessionStartedAt: "2026-01-01T00:00:00.000Z",
  durationMs: 20_000,
  peers: [peer("A", 0, 20_000), peer("B", 1000, 20_000), peer("C", 5000, 15_000)],
  layout: "grid",
  canvas,
  fromMs: 0,
  toMs: 20_000,
  ...o,
});
const spans = (segs: ReturnType<typeof planComposeSegments>) => segs.map((s) => [s.startMs, s.endMs]);

test("grid: cut at joins and leaves inside the range only; the frames add up to the range", () => {
  const segs = planComposeSegments(base({ fromMs: 2000, toMs: 16_000 }));
  assert.deepEqual(spans(segs), [
    [2000, 5000],
    [5000, 15_000],
    [15_000, 16_000],
  ]);
  assert.equal(segs[0].startFrame, 60);
  assert.equal(segs.at(-1)!.endFrame, 480);
  for (let i = 1; i < segs.length; i++) assert.equal(segs[i].startFrame, segs[i - 1].endFrame, "no gap, no overlap");
  assert.deepEqual(
    segs.map((s) => s.tiles.map((t) => t.peerId).join("")),
    ["AB", "ABC", "AB"],
  );
  // The tiles are the live compositor's for the same peers.
  const live = layoutTiles({
    width: 1280,
    height: 720,
    layout: "grid",
    peers: ["A", "B", "C"].map((id) => ({ peerId: id, tileSource: id })),
  });
  assert.deepEqual(
    segs[1].tiles.map((t) => [t.x, t.y, t.w, t.h]),
    live.map((t) => [t.x, t.y, t.w, t.h]),
  );
  assert.deepEqual(segs[1].audioPeers, ["A", "B", "C"]);
});

test("portrait grid: peers stacked across the width", () => {
  const segs = planComposeSegments(
    base({ canvas: { width: 720, height: 1280, fps: 30 }, peers: [peer("A", 0, 20_000), peer("B", 0, 20_000)] }),
  );
  assert.equal(segs.length, 1);
  assert.deepEqual(
    segs[0].tiles.map((t) => [t.peerId, t.x, t.y, t.w, t.h]),
    [
      ["A", 0, 0, 720, 640],
      ["B", 0, 640, 720, 640],
    ],
  );
});

test("active speaker: cut at every change; the speaker on the stage, the others in the strip, everyone heard", () => {
  const speakers = [
    { atMs: 0, peerId: "A" },
    { atMs: 7000, peerId: "C" },
    { atMs: 12_000, peerId: "B" },
  ];
  const segs = planComposeSegments(base({ layout: "active-speaker", speakers }));
  assert.deepEqual(spans(segs), [
    [0, 1000],
    [1000, 5000],
    [5000, 7000],
    [7000, 12_000],
    [12_000, 15_000],
    [15_000, 20_000],
  ]);
  const stage = segs.map(
    (s) =>
      `${s.tiles[0].peerId}|${s.tiles
        .slice(1)
        .map((t) => t.peerId)
        .join("")}`,
  );
  assert.deepEqual(stage, ["A|", "A|B", "A|BC", "C|AB", "B|AC", "B|A"]);
  assert.deepEqual(segs[3].tiles[0], { peerId: "C", x: 0, y: 0, w: 960, h: 720 }, "the stage: the left three quarters");
  assert.deepEqual(segs[3].audioPeers, ["A", "B", "C"]);
  // Portrait: the stage on top, the strip below it.
  const tall = planComposeSegments(base({ layout: "active-speaker", speakers, canvas: { width: 720, height: 1280, fps: 30 } }));
  assert.deepEqual(tall[3].tiles[0], { peerId: "C", x: 0, y: 0, w: 720, h: 768 });
  assert.ok(tall[3].tiles.slice(1).every((t) => t.y >= 768 && t.y + t.h <= 1280));
});

test("a screen share takes the stage from its first frame to its end, in a tile of its own", () => {
  const peers = [peer("A", 0, 20_000), peer("B", 0, 20_000, { screen: { file: "/t/Bs.webm", startMs: 4000, endMs: 9000 } })];
  const segs = planComposeSegments(base({ peers }));
  assert.deepEqual(spans(segs), [
    [0, 4000],
    [4000, 9000],
    [9000, 20_000],
  ]);
  assert.deepEqual(
    segs[1].tiles.map((t) => `${t.peerId}${t.source === "screen" ? ":screen" : ""}`),
    ["B:screen", "A", "B"],
  );
  assert.ok(segs[0].tiles.every((t) => t.source === undefined));
  // The screen tile draws the screen track; B is heard once.
  const args = buildSegmentArgs({ segment: segs[1], peers, canvas, out: "/w/s.mov" });
  const inputs = args.flatMap((a, i) => (a === "-i" ? [args[i + 1]] : []));
  assert.deepEqual(inputs, ["/t/Bs.webm", "/t/A.webm", "/t/B.webm", "/t/Aa.webm", "/t/Ba.webm"]);
});

test("the roles' peers are heard even when the strip has no room for them", () => {
  const many = ["A", "B", "C", "D", "E", "F", "G"].map((id) => peer(id, 0, 20_000));
  const [seg] = planComposeSegments(base({ peers: many, layout: "active-speaker", speakers: [{ atMs: 0, peerId: "A" }] }));
  assert.equal(seg.tiles.length, 5, "a stage and four in the strip");
  const args = buildSegmentArgs({ segment: seg, peers: many, canvas, out: "/w/s.mov" });
  const graph = args[args.indexOf("-filter_complex") + 1];
  assert.ok(graph.includes("amix=inputs=8:"), "seven voices and the silence");
});

test("no range, no segment; a plan carries the canvas and peers", () => {
  assert.deepEqual(planComposeSegments(base({ fromMs: 5000, toMs: 5000 })), []);
  const plan = planCompose(base({ canvas: { width: 720, height: 1280, fps: 30 } }));
  assert.deepEqual(plan.canvas, { width: 720, height: 1280, fps: 30 });
  assert.equal(plan.peers.length, 3);
  assert.equal(speakerAt([{ atMs: 100, peerId: "A" }], 50), null);
  assert.equal(speakerAt([{ atMs: 100, peerId: "A" }], 100), "A");
});

test("speaker timeline: the first speaker at once, a change after 0.8 s as the loudest, silence keeps the last", () => {
  const windows = (from: number, to: number, db: (t: number) => number) =>
    Array.from({ length: (to - from) / 100 }, (_, i) => ({ atMs: from + i * 100, db: db(from + i * 100) }));
  // A speaks 1-4 s, B 4-6 s, then silence; C whispers (below -45 dBFS) all along.
  const levels = [
    { peerId: "A", windows: windows(0, 10_000, (t) => (t >= 1000 && t < 4000 ? -20 : Number.NEGATIVE_INFINITY)) },
    { peerId: "B", windows: windows(0, 10_000, (t) => (t >= 4000 && t < 6000 ? -25 : -60)) },
    { peerId: "C", windows: windows(0, 10_000, () => -50) },
  ];
  const presence = ["A", "B", "C"].map((peerId) => ({ peerId, joinedAtMs: 0, leftAtMs: 10_000 }));
  assert.deepEqual(speakerTimeline(levels, { presence, untilMs: 10_000 }), [
    { atMs: 1000, peerId: "A" },
    { atMs: 4800, peerId: "B" },
  ]);
  // A peer who has left is not heard, even if its file goes on.
  const gone = presence.map((p) => (p.peerId === "B" ? { ...p, leftAtMs: 4500 } : p));
  assert.deepEqual(speakerTimeline(levels, { presence: gone, untilMs: 10_000 }), [{ atMs: 1000, peerId: "A" }]);
});

test("levels: one RMS level per 100 ms window, read back from what ffmpeg prints", () => {
  const args = buildLevelArgs({ input: "/t/a b.webm", out: "/w/it's:levels.txt" });
  assert.ok(args.includes("-copyts"), "the file's own timestamps");
  const af = args[args.indexOf("-af") + 1];
  assert.ok(af.includes("asetnsamples=n=4800:p=0"), af);
  // Escaped for the option parser, then for the graph parser: the path arrives whole.
  assert.ok(af.endsWith(String.raw`file=/w/it\\\'s\\:levels.txt`), af);
  const text = [
    "frame:0    pts:0       pts_time:0",
    "lavfi.astats.Overall.RMS_level=-inf",
    "frame:1    pts:4800    pts_time:0.1",
    "lavfi.astats.Overall.RMS_level=-23.456",
    "frame:2    pts:9600    pts_time:0.2",
    "lavfi.astats.Overall.RMS_level=nan",
    "",
  ].join("\n");
  assert.deepEqual(parseLevels(text), [
    { t: 0, db: Number.NEGATIVE_INFINITY },
    { t: 0.1, db: -23.456 },
  ]);
});
