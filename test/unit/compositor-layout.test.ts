import assert from "node:assert/strict";
import test from "node:test";
import { gridShape, type LayoutPeer, layoutTiles, MAX_GRID_TILES } from "../../src/recorders/compositor/compositor-layout.ts";
import { HOLD_MS, SpeakerDetector } from "../../src/recorders/compositor/speaker.ts";

const peers = (n: number): LayoutPeer[] => Array.from({ length: n }, (_, i) => ({ peerId: `p${i}`, tileSource: `v${i}` }));
const inside = (t: { x: number; y: number; w: number; h: number }, w: number, h: number) =>
  t.x >= 0 && t.y >= 0 && t.x + t.w <= w && t.y + t.h <= h && t.w > 0 && t.h > 0 && t.x % 2 === 0 && t.y % 2 === 0;
const overlap = (a: { x: number; y: number; w: number; h: number }, b: typeof a) =>
  a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

test("grid: every peer gets one tile inside the canvas, none overlapping, up to nine", () => {
  for (const [w, h] of [
    [1280, 720],
    [720, 1280],
    [1920, 1080],
  ])
    for (let n = 1; n <= 12; n++) {
      const tiles = layoutTiles({ width: w, height: h, layout: "grid", peers: peers(n) });
      assert.equal(tiles.length, Math.min(n, MAX_GRID_TILES));
      for (const t of tiles) assert.ok(inside(t, w, h), `${n} peers on ${w}x${h}: ${JSON.stringify(t)}`);
      for (const [i, a] of tiles.entries())
        for (const b of tiles.slice(i + 1)) assert.ok(!overlap(a, b), `${JSON.stringify(a)} and ${JSON.stringify(b)}`);
    }
});

test("grid: two side by side on landscape, stacked on portrait; three put the third centred under the first two", () => {
  assert.deepEqual(gridShape(2, false), { cols: 2, rows: 1 });
  assert.deepEqual(gridShape(2, true), { cols: 1, rows: 2 });
  const three = layoutTiles({ width: 1280, height: 720, layout: "grid", peers: peers(3) });
  assert.deepEqual(
    three.map(({ x, y, w, h }) => [x, y, w, h]),
    [
      [0, 0, 640, 360],
      [640, 0, 640, 360],
      [320, 360, 640, 360],
    ],
  );
  const portrait = layoutTiles({ width: 720, height: 1280, layout: "grid", peers: peers(2) });
  assert.deepEqual(
    portrait.map(({ x, y, w, h }) => [x, y, w, h]),
    [
      [0, 0, 720, 640],
      [0, 640, 720, 640],
    ],
  );
});

test("a screen share takes the stage, with every camera in the strip beside it (below it on portrait)", () => {
  const ps = peers(3);
  ps[1].screenSource = "s1";
  const tiles = layoutTiles({ width: 1280, height: 720, layout: "grid", peers: ps });
  assert.equal(tiles[0].id, "s1");
  assert.deepEqual([tiles[0].x, tiles[0].y, tiles[0].w, tiles[0].h], [0, 0, 960, 720]);
  assert.deepEqual(
    tiles.slice(1).map((t) => t.id),
    ["v0", "v1", "v2"],
  );
  for (const t of tiles.slice(1)) assert.ok(t.x >= 960 && t.z > tiles[0].z);
  const portrait = layoutTiles({ width: 720, height: 1280, layout: "grid", peers: ps });
  assert.equal(portrait[0].w, 720);
  for (const t of portrait.slice(1)) assert.ok(t.y >= portrait[0].h && inside(t, 720, 1280));
});

test("active speaker: the speaker on the stage and the others in the strip; alone, a peer fills the canvas", () => {
  const tiles = layoutTiles({ width: 1280, height: 720, layout: "active-speaker", peers: peers(3), speaker: "p2" });
  assert.equal(tiles[0].id, "v2");
  assert.deepEqual(
    tiles.slice(1).map((t) => t.id),
    ["v0", "v1"],
  );
  const first = layoutTiles({ width: 1280, height: 720, layout: "active-speaker", peers: peers(2), speaker: null });
  assert.equal(first[0].id, "v0", "no one has spoken yet: the first to join");
  const alone = layoutTiles({ width: 1280, height: 720, layout: "active-speaker", peers: peers(1), speaker: "p0" });
  assert.deepEqual(
    alone.map(({ x, y, w, h }) => [x, y, w, h]),
    [[0, 0, 1280, 720]],
  );
});

test("speaker: the loudest above the threshold takes the stage after a hold; silence keeps it", () => {
  const s = new SpeakerDetector();
  assert.equal(s.update({ a: -80, b: -90 }, 0), false, "no one speaks");
  assert.equal(s.update({ a: -20, b: -90 }, 100), true, "the first speaker at once");
  assert.equal(s.current, "a");
  assert.equal(s.update({ a: -60, b: -15 }, 200), false, "b louder, not yet long enough");
  assert.equal(s.update({ a: -60, b: -15 }, 200 + HOLD_MS - 1), false);
  assert.equal(s.update({ a: -60, b: -15 }, 200 + HOLD_MS), true);
  assert.equal(s.current, "b");
  assert.equal(s.update({ a: -80, b: -80 }, 5000), false, "silence keeps b");
  assert.equal(s.current, "b");
  s.update({ a: -10, b: -80 }, 6000);
  assert.equal(s.update({ a: -80, b: -12 }, 6100), false, "a's word was too short: b keeps the stage");
  assert.equal(s.current, "b");
});
