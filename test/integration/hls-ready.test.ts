import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { missingForPlayback, notPlayableMessage, waitUntilPlayable } from "../../src/recorders/hls/live-ready.ts";

// When a live stream may be announced: the live folder as ffmpeg's HLS muxer writes it (segments and
// playlists written as .tmp, renamed into place, the master last), watched by the supervisor's wait. The
// stream itself (Chromium, ffmpeg, the API) is tested in test/e2e/hls.test.ts.

const LAYERS = [
  { width: 640, height: 360 },
  { width: 320, height: 180 },
];

const MASTER = [
  "#EXTM3U",
  "#EXT-X-VERSION:6",
  "#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360",
  "0/index.m3u8",
  "#EXT-X-STREAM-INF:BANDWIDTH=300000,RESOLUTION=320x180",
  "1/index.m3u8",
  "",
].join("\n");
const playlist = (n: number) =>
  [
    "#EXTM3U",
    "#EXT-X-VERSION:6",
    "#EXT-X-TARGETDURATION:2",
    "#EXT-X-MEDIA-SEQUENCE:0",
    "#EXT-X-PLAYLIST-TYPE:EVENT",
    ...Array.from({ length: n }, (_, i) => [
      `#EXTINF:2.000000,`,
      `#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:0${2 * i}.000+0000`,
      `seg-${String(i).padStart(5, "0")}.ts`,
    ]).flat(),
    "",
  ].join("\n");

/** Writes `name` the way ffmpeg does with temp_file: to name.tmp, then renamed. */
function writeRenamed(file: string, body: string | Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(`${file}.tmp`, body);
  fs.renameSync(`${file}.tmp`, file);
}

/** A layer's first segment, then its playlist listing it. */
function writeFirstSegment(dir: string, layer: number): void {
  writeRenamed(path.join(dir, String(layer), "seg-00000.ts"), Buffer.alloc(188 * 10, 0x47));
  writeRenamed(path.join(dir, String(layer), "index.m3u8"), playlist(1));
}

const nextTurn = () => new Promise((r) => setTimeout(r, 50));

describe("a live stream is playable once the master and a segment of every layer are served", () => {
  let root: string;
  let n = 0;
  const freshDir = () => {
    const d = path.join(root, `live-${n++}`);
    fs.mkdirSync(d, { recursive: true });
    return d;
  };
  before(() => void (root = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-hls-ready-"))));
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  test("what is missing, layer by layer: no playlist, a listed segment not on disk, the master not written or not naming a layer", () => {
    const dir = freshDir();
    assert.deepEqual(missingForPlayback(dir, LAYERS), [
      "layer 0 (640x360) produced no segment (no playlist yet)",
      "layer 1 (320x180) produced no segment (no playlist yet)",
      "master.m3u8 was not written",
    ]);
    writeFirstSegment(dir, 0);
    writeRenamed(path.join(dir, "1", "index.m3u8"), playlist(1));
    writeRenamed(path.join(dir, "master.m3u8"), MASTER.replace("1/index.m3u8", "2/index.m3u8"));
    assert.deepEqual(missingForPlayback(dir, LAYERS), [
      "layer 1 (320x180) produced no segment (seg-00000.ts is listed but not on disk yet)",
      "master.m3u8 does not list layer 1 (320x180)",
    ]);
    writeFirstSegment(dir, 1);
    writeRenamed(path.join(dir, "master.m3u8"), MASTER);
    assert.deepEqual(missingForPlayback(dir, LAYERS), []);
  });

  test("the wait ends when the last of them is written, not before, woken by the folder's events", async () => {
    const dir = freshDir();
    let done = false;
    const wait = waitUntilPlayable(dir, LAYERS, { deadline: Date.now() + 10_000, ended: new Promise(() => undefined) }).then(
      (r) => ((done = true), r),
    );
    await nextTurn();
    writeFirstSegment(dir, 0);
    await nextTurn();
    writeRenamed(path.join(dir, "master.m3u8"), MASTER);
    await nextTurn();
    assert.equal(done, false, "layer 1 has no segment yet");
    writeRenamed(path.join(dir, "1", "seg-00000.ts"), Buffer.alloc(188, 0x47));
    await nextTurn();
    assert.equal(done, false, "layer 1's playlist does not list it yet");
    const t = Date.now();
    writeRenamed(path.join(dir, "1", "index.m3u8"), playlist(1));
    assert.deepEqual(await wait, { playable: true });
    assert.ok(Date.now() - t < 1000, `woken by the rename, ${Date.now() - t} ms after it`);
  });

  test("a folder already complete is playable at once", async () => {
    const dir = freshDir();
    writeFirstSegment(dir, 0);
    writeFirstSegment(dir, 1);
    writeRenamed(path.join(dir, "master.m3u8"), MASTER);
    assert.deepEqual(await waitUntilPlayable(dir, LAYERS, { deadline: Date.now() + 10_000, ended: new Promise(() => undefined) }), {
      playable: true,
    });
  });

  test("past the deadline it gives up naming the layer that produced no segment", async () => {
    const dir = freshDir();
    writeFirstSegment(dir, 0);
    const r = await waitUntilPlayable(dir, LAYERS, { deadline: Date.now() + 300, ended: new Promise(() => undefined) });
    assert.deepEqual(r, {
      playable: false,
      why: "timeout",
      missing: ["layer 1 (320x180) produced no segment (no playlist yet)", "master.m3u8 was not written"],
    });
    assert.equal(
      notPlayableMessage(r.playable ? [] : r.missing, 30_000),
      "the live stream did not become playable within 30 s of the capture start: layer 1 (320x180) produced no segment (no playlist yet); master.m3u8 was not written",
    );
  });

  test("a capture that ends first ends the wait", async () => {
    const dir = freshDir();
    let end!: () => void;
    const ended = new Promise<void>((r) => (end = r));
    const wait = waitUntilPlayable(dir, LAYERS, { deadline: Date.now() + 10_000, ended });
    end();
    const r = await wait;
    assert.equal(r.playable, false);
    assert.equal(!r.playable && r.why, "ended");
  });
});
