import assert from "node:assert/strict";
import { test } from "node:test";
import {
  compositorLayers,
  DEFAULT_LAYERS,
  ladderArgs,
  ladderCopyArgs,
  ladderCost,
  layerProblems,
  planLadder,
} from "../../src/recorders/hls/ladder.ts";
import { servedPlaylist } from "../../src/recorders/hls/playback.routes.ts";

test("layer bounds: 100ms's (even sides, short side 144..1080, long side 192..1920, highest first)", () => {
  assert.deepEqual(layerProblems(DEFAULT_LAYERS), []);
  assert.deepEqual(
    layerProblems([
      { width: 1080, height: 1920 },
      { width: 720, height: 1280 },
    ]),
    [],
  );
  assert.equal(layerProblems([{ width: 1281, height: 720 }]).length, 1);
  assert.equal(layerProblems([{ width: 2560, height: 1440 }]).length, 2);
  assert.equal(layerProblems([{ width: 200, height: 100 }]).length, 1);
  assert.match(
    layerProblems([
      { width: 640, height: 360 },
      { width: 1280, height: 720 },
    ])[0],
    /highest resolution down/,
  );
  assert.match(layerProblems([])[0], /at least one layer/);
});

test("the ladder is cut from the top until it fits the cores, and says what it left out", () => {
  const all = planLadder(DEFAULT_LAYERS, 64, "superfast");
  assert.equal(all.layers.length, 5);
  assert.equal(all.warning, null);

  const budget = (ladderCost(DEFAULT_LAYERS.slice(1), "superfast") + ladderCost(DEFAULT_LAYERS, "superfast")) / 2;
  const cut = planLadder(DEFAULT_LAYERS, budget, "superfast");
  assert.deepEqual(
    cut.layers.map((l) => l.height),
    [720, 480, 360, 240],
  );
  assert.deepEqual(
    cut.dropped.map((l) => l.height),
    [1080],
  );
  assert.match(cut.warning!, /1920x1080 is left out; producing 1280x720, 854x480, 640x360, 426x240/);
  assert.ok(cut.cores <= budget);

  const tiny = planLadder(DEFAULT_LAYERS, 0.5, "superfast");
  assert.deepEqual(
    tiny.layers.map((l) => l.height),
    [240],
    "the lowest layer is always kept",
  );
  assert.match(tiny.warning!, /may fall behind real time/);
  assert.ok(ladderCost(DEFAULT_LAYERS, "ultrafast") < ladderCost(DEFAULT_LAYERS, "veryfast"));
});

test("ffmpeg arguments: one decode, one x264 per layer with the same GOP, HLS with program date times", () => {
  const args = ladderArgs(DEFAULT_LAYERS.slice(3), "/tmp/x", "superfast");
  const filter = args[args.indexOf("-filter_complex") + 1];
  assert.match(filter, /^\[0:v\]fps=30,setsar=1,split=2\[s0\]\[s1\];\[s0\]scale=640:360/);
  assert.equal(args.filter((a) => a === "libx264").length, 2);
  assert.deepEqual(
    [args[args.indexOf("-g") + 1], args[args.indexOf("-keyint_min") + 1], args[args.indexOf("-sc_threshold") + 1]],
    ["60", "60", "0"],
  );
  assert.equal(args[args.indexOf("-var_stream_map") + 1], "v:0,a:0,name:0 v:1,a:1,name:1");
  assert.match(args[args.indexOf("-hls_flags") + 1], /program_date_time/);
  assert.equal(args.at(-1), "/tmp/x/%v/index.m3u8");
});

const EVENT = [
  "#EXTM3U",
  "#EXT-X-VERSION:3",
  "#EXT-X-TARGETDURATION:2",
  "#EXT-X-MEDIA-SEQUENCE:0",
  "#EXT-X-PLAYLIST-TYPE:EVENT",
  "#EXT-X-INDEPENDENT-SEGMENTS",
  ...[0, 1, 2, 3, 4, 5].flatMap((i) => [
    `#EXT-X-PROGRAM-DATE-TIME:2026-12-01T10:00:0${i * 2}.000+0000`,
    "#EXTINF:2.000000,",
    `seg-0000${i}.ts`,
  ]),
].join("\n");

test("served playlists: a live window of the last N segments, and timed metadata as DATERANGE", () => {
  const all = servedPlaylist(EVENT, { keep: null, metadata: [] });
  assert.equal(all.match(/seg-/g)!.length, 6);
  assert.match(all, /#EXT-X-PLAYLIST-TYPE:EVENT/);

  const meta = [
    { id: "a".repeat(24), stream_id: "s", payload: "old", duration: 1, created_at: "2026-12-01T10:00:00.500Z" },
    { id: "b".repeat(24), stream_id: "s", payload: 'now "quoted"', duration: 5, created_at: "2026-12-01T10:00:09.000Z" },
  ];
  const windowed = servedPlaylist(EVENT, { keep: 3, metadata: meta });
  assert.deepEqual(
    windowed.split("\n").filter((l) => l.startsWith("seg-")),
    ["seg-00003.ts", "seg-00004.ts", "seg-00005.ts"],
  );
  assert.match(windowed, /#EXT-X-MEDIA-SEQUENCE:3\n/);
  assert.doesNotMatch(windowed, /PLAYLIST-TYPE/, "a live window is not an EVENT playlist");
  assert.doesNotMatch(windowed, /X-PAYLOAD="old"/, "metadata that ended before the window is left out");
  assert.match(
    windowed,
    /#EXT-X-DATERANGE:ID="b{24}",CLASS="com\.tapedeck\.timed-metadata",START-DATE="2026-12-01T10:00:09\.000Z",DURATION=5,X-PAYLOAD="now%20%22quoted%22"/,
  );
  // Each segment keeps its own date: the window's first line after the tags is its PDT.
  assert.match(windowed, /#EXT-X-PROGRAM-DATE-TIME:2026-12-01T10:00:06\.000\+0000\n#EXTINF:2\.000000,\nseg-00003\.ts/);
});

test("through the live compositor the default ladder fits 2 cores whole; through Chromium it is cut to 480p", () => {
  const compositor = planLadder(DEFAULT_LAYERS, 2, "superfast", "compositor");
  assert.deepEqual(
    compositor.layers.map((l) => l.height),
    [1080, 720, 480, 360, 240],
  );
  assert.equal(compositor.warning, null);
  const browser = planLadder(DEFAULT_LAYERS, 2, "superfast", "browser");
  assert.deepEqual(
    browser.layers.map((l) => l.height),
    [480, 360, 240],
  );
  assert.ok(ladderCost(DEFAULT_LAYERS, "superfast", "compositor") < ladderCost(DEFAULT_LAYERS, "superfast", "browser"));
});

test("compositor ladder: each layer encoded by the compositor with the ladder's VBV and profile; ffmpeg copies the video", () => {
  const layers = DEFAULT_LAYERS.slice(0, 2);
  assert.deepEqual(compositorLayers(layers, "superfast")[0], {
    width: layers[0].width,
    height: layers[0].height,
    kbps: layers[0].videoBitrate,
    maxrate: Math.round(layers[0].videoBitrate * 1.2),
    bufsize: layers[0].videoBitrate * 2,
    profile: "main",
    preset: "superfast",
  });
  const args = ladderCopyArgs(layers, "/tmp/live").join(" ");
  assert.match(args, /-map 0:v:0 -map 0:a -c:v:0 copy -c:a:0 aac/);
  assert.match(args, /-map 0:v:1 -map 0:a -c:v:1 copy -c:a:1 aac/);
  assert.doesNotMatch(args, /libx264|filter_complex/);
  assert.match(args, /-var_stream_map v:0,a:0,name:0 v:1,a:1,name:1/);
});
