import assert from "node:assert/strict";
import { test } from "node:test";
import {
  closedSegments,
  gridFor,
  planComposite,
  planLayout,
  tilesFor,
  type PeerPresence,
  type Tile,
} from "../../src/recorders/sfu/composite-layout.ts";

const peer = (peerId: string, joinedAtMs: number, leftAtMs?: number): PeerPresence => ({ peerId, name: peerId, joinedAtMs, leftAtMs });
const ids = (tiles: Tile[]) => tiles.map((t) => t.peerId);

test("grid sizes: 1, 2, 2x2, 3x2, 3x3", () => {
  const shapes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 12].map((n) => {
    const g = gridFor(n);
    return `${g.cols}x${g.rows}`;
  });
  assert.deepEqual(shapes, ["1x1", "2x1", "2x2", "2x2", "3x2", "3x2", "3x3", "3x3", "3x3", "3x3"]);
});

test("one peer fills the frame; two sit side by side", () => {
  assert.deepEqual(tilesFor(["a"]), [{ peerId: "a", x: 0, y: 0, w: 1280, h: 720 }]);
  assert.deepEqual(tilesFor(["a", "b"]), [
    { peerId: "a", x: 0, y: 0, w: 640, h: 720 },
    { peerId: "b", x: 640, y: 0, w: 640, h: 720 },
  ]);
});

test("an incomplete last row is centred", () => {
  assert.deepEqual(
    tilesFor(["a", "b", "c"]).map((t) => [t.x, t.y, t.w, t.h]),
    [
      [0, 0, 640, 360],
      [640, 0, 640, 360],
      [320, 360, 640, 360],
    ],
  );
  const five = tilesFor(["a", "b", "c", "d", "e"]);
  assert.deepEqual(
    five.map((t) => [t.x, t.y, t.w]),
    [
      [0, 0, 426],
      [426, 0, 426],
      [852, 0, 426],
      [212, 360, 426],
      [638, 360, 426],
    ],
  );
});

test("tiles never overlap, stay inside the canvas and have even sizes", () => {
  for (let n = 1; n <= 12; n++) {
    const tiles = tilesFor(Array.from({ length: n }, (_, i) => `p${i}`));
    assert.equal(tiles.length, Math.min(n, 9));
    for (const t of tiles) {
      assert.ok(t.x >= 0 && t.y >= 0 && t.x + t.w <= 1280 && t.y + t.h <= 720, `n=${n} ${JSON.stringify(t)} inside`);
      assert.ok(t.w % 2 === 0 && t.h % 2 === 0 && t.x % 2 === 0 && t.y % 2 === 0, `n=${n} even`);
    }
    for (const a of tiles)
      for (const b of tiles) {
        if (a === b) continue;
        const apart = a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y;
        assert.ok(apart, `n=${n}: ${a.peerId} and ${b.peerId} overlap`);
      }
  }
});

test("the timeline is cut at every join and leave (A 0-12 s, B 3-12 s, C 6-9 s)", () => {
  const segs = planLayout([peer("A", 0, 12000), peer("B", 3000, 12000), peer("C", 6000, 9000)], 12000);
  assert.deepEqual(
    segs.map((s) => [s.startMs, s.endMs, s.startFrame, s.endFrame, ids(s.tiles).join("")]),
    [
      [0, 3000, 0, 90, "A"],
      [3000, 6000, 90, 180, "AB"],
      [6000, 9000, 180, 270, "ABC"],
      [9000, 12000, 270, 360, "AB"],
    ],
  );
});

test("segments cover the whole session in whole frames, without gaps", () => {
  const segs = planLayout([peer("A", 0), peer("B", 1234, 5678), peer("C", 1240, 9001), peer("D", 9013)], 10_007);
  assert.equal(segs[0].startFrame, 0);
  assert.equal(segs.at(-1)!.endFrame, 300);
  for (let i = 1; i < segs.length; i++) assert.equal(segs[i].startFrame, segs[i - 1].endFrame);
  // B (1234 ms) and C (1240 ms) join within one frame: no segment for the 6 ms in between.
  assert.ok(segs.every((s) => s.endFrame > s.startFrame));
  assert.ok(!segs.some((s) => ids(s.tiles).join("") === "AB" && s.startMs === 1234));
});

test("nobody there: a segment without tiles (black and silent)", () => {
  const segs = planLayout([peer("A", 2000, 4000)], 6000);
  assert.deepEqual(
    segs.map((s) => ids(s.tiles).length),
    [0, 1, 0],
  );
});

test("beyond nine peers, the first nine by join time (ties by peer id)", () => {
  const peers = Array.from({ length: 12 }, (_, i) => peer(`p${String(i).padStart(2, "0")}`, i === 11 ? 0 : 100 * i));
  const last = planLayout(peers, 5000).at(-1)!;
  assert.deepEqual(ids(last.tiles), ["p00", "p11", "p01", "p02", "p03", "p04", "p05", "p06", "p07"]);
});

test("a peer still in the room stays to the end; late leaves and joins are clamped", () => {
  const segs = planLayout([peer("A", 0), peer("B", 1000, 99_000), peer("C", 8000)], 5000);
  assert.deepEqual(
    segs.map((s) => ids(s.tiles).join("")),
    ["A", "AB"],
  );
  assert.equal(segs.at(-1)!.endMs, 5000);
});

test("planComposite refuses bad input", () => {
  assert.throws(
    () => planComposite({ sessionStartedAt: "2024-01-01T00:00:00Z", durationMs: 1000, peers: [peer("A", 0), peer("A", 10)] }),
    /twice/,
  );
  assert.throws(
    () => planComposite({ sessionStartedAt: "2024-01-01T00:00:00Z", durationMs: 1000, peers: [peer("A", 500, 100)] }),
    /invalid times/,
  );
  assert.deepEqual(planComposite({ sessionStartedAt: "2024-01-01T00:00:00Z", durationMs: 0, peers: [] }).segments, []);
});

test("closed segments of a live session are stable as it goes on", () => {
  const live = (now: number) =>
    planComposite({
      sessionStartedAt: "2024-01-01T00:00:00Z",
      durationMs: now,
      peers: [peer("A", 0), peer("B", 3000, now > 7000 ? 7000 : undefined)],
    });
  const early = closedSegments(live(5000), 5000);
  assert.deepEqual(
    early.map((s) => [s.startFrame, s.endFrame]),
    [[0, 90]],
  );
  const later = live(20_000);
  assert.deepEqual(later.segments.slice(0, 1), early);
  // The open segment is never closed; with a safety margin only what ended before it counts.
  assert.deepEqual(
    closedSegments(later, 6000).map((s) => s.endMs),
    [3000],
  );
  assert.deepEqual(
    closedSegments(later, 20_000).map((s) => s.endMs),
    [3000, 7000],
  );
});

test("with chunks, a long stretch without joins is cut every chunk from the session start, live or closed", () => {
  const live = (now: number, left?: number) =>
    planComposite(
      { sessionStartedAt: "2024-01-01T00:00:00Z", durationMs: now, peers: [peer("A", 0), peer("B", 45_000, left)] },
      undefined,
      30_000,
    );
  assert.deepEqual(
    live(100_000, 70_000).segments.map((s) => [s.startMs, s.endMs, ids(s.tiles).join("")]),
    [
      [0, 30_000, "A"],
      [30_000, 45_000, "A"],
      [45_000, 60_000, "AB"],
      [60_000, 70_000, "AB"],
      [70_000, 90_000, "A"],
      [90_000, 100_000, "A"],
    ],
  );
  // What a live plan closed at 64 s is exactly what the final plan has.
  const closed = closedSegments(live(64_000), 64_000);
  assert.deepEqual(closed, live(100_000, 70_000).segments.slice(0, 3));
});
