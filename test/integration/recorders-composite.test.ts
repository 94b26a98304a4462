import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { MediaProcessError, probe, type MediaLog } from "../../src/media/process.ts";
import { closedSegments, planComposite, type PeerPresence } from "../../src/recorders/sfu/composite-layout.ts";
import { composeSession, CompositeInputError, renderSegment } from "../../src/recorders/sfu/composite.ts";
import {
  audioLevel,
  beepOnsets,
  colourAt,
  fixtureDir,
  frameAt,
  makeAudioWebm,
  makeVideoWebm,
  makeWeriftVideoWebm,
} from "../support/media-fixtures.ts";

const W = 1280;
const H = 720;
const RED: Rgb = [255, 0, 0];
const BLUE: Rgb = [0, 0, 255];
const DARK: Rgb = [38, 38, 38];
const BLACK: Rgb = [0, 0, 0];
type Rgb = [number, number, number];

const tmp = fixtureDir("tapedeck-composite-");
const f = (name: string) => path.join(tmp.dir, name);
after(() => tmp.remove());

// A 0-12 s (red 640x360 video, 1 kHz tone with a beep every second), B 3-12 s (blue 1280x720 video
// from 3.2 s, written by werift's own WebM writer; 500 Hz from 3.1 s), C 6-9 s (no video, 700 Hz).
const peers = (): PeerPresence[] => [
  {
    peerId: "A",
    name: "Alice",
    joinedAtMs: 0,
    leftAtMs: 12_000,
    video: { file: f("a.webm"), startMs: 0 },
    audio: { file: f("a-audio.webm"), startMs: 0 },
  },
  {
    peerId: "B",
    name: "Bob",
    joinedAtMs: 3000,
    leftAtMs: 12_000,
    video: { file: f("b.webm"), startMs: 3200 },
    audio: { file: f("b-audio.webm"), startMs: 3100 },
  },
  { peerId: "C", name: "Carol", joinedAtMs: 6000, leftAtMs: 9000, audio: { file: f("c-audio.webm"), startMs: 6000 } },
];

before(async () => {
  await Promise.all([
    makeVideoWebm(f("a.webm"), { seconds: 12, color: "red", width: 640, height: 360 }),
    makeWeriftVideoWebm(f("b.webm"), { seconds: 8.8, color: "blue", width: 1280, height: 720, gop: 60 }),
    makeAudioWebm(f("a-audio.webm"), { seconds: 12, frequency: 1000, beep: true }),
    makeAudioWebm(f("b-audio.webm"), { seconds: 8.9, frequency: 500 }),
    makeAudioWebm(f("c-audio.webm"), { seconds: 3, frequency: 700 }),
  ]);
});

function assertColour(frame: Buffer, x: number, y: number, want: Rgb, what: string): void {
  const got = colourAt(frame, W, x, y);
  assert.ok(
    got.every((c, i) => Math.abs(c - want[i]) <= 16),
    `${what} at (${x},${y}): got rgb(${got}), want about rgb(${want})`,
  );
}

test("3-peer session: 1280x720 H.264 + AAC, 12 s, tiles reflow as peers come and go, audio lands in place", async () => {
  const workDir = f("work");
  const outFile = f("composite.mp4");

  // While the session runs (at 7.5 s, files flushed up to 7 s), the closed segments render early.
  const live = planComposite({
    sessionStartedAt: "2024-05-01T10:00:00.000Z",
    durationMs: 7500,
    peers: peers().map((p) => (p.peerId === "C" ? { ...p, leftAtMs: null } : p)),
  });
  const early = closedSegments(live, 7000);
  assert.equal(early.length, 2);
  for (const s of early) assert.equal((await renderSegment(live, s, { workDir })).rendered, true);

  const plan = planComposite({ sessionStartedAt: "2024-05-01T10:00:00.000Z", durationMs: 12_000, peers: peers() });
  const r = await composeSession(plan, { workDir, outFile, concurrency: 2 });
  assert.deepEqual([r.segments, r.rendered], [4, 2], "the segments rendered early were not rendered again");

  const p = await probe(outFile);
  assert.deepEqual(
    p.streams.map((s) => `${s.codec_type}/${s.codec_name}`),
    ["video/h264", "audio/aac"],
  );
  const v = p.streams[0];
  assert.deepEqual([v.width, v.height, v.nb_frames], [W, H, 360]);
  assert.ok(Math.abs(p.durationSeconds - 12) < 0.5, `duration ${p.durationSeconds}`);
  assert.equal(r.sizeBytes, fs.statSync(outFile).size);
  assert.deepEqual(
    fs.readdirSync(workDir).filter((n) => !/^seg-\d{8}-[0-9a-f]{16}\.mov$/.test(n)),
    [],
    "only finished segments in the work folder",
  );

  // t=1: A alone, full frame.
  let frame = await frameAt(outFile, 1, W, H);
  for (const [x, y] of [
    [640, 360],
    [100, 100],
    [1180, 620],
  ])
    assertColour(frame, x, y, RED, "A full frame");
  // t=4.5: A and B side by side, each 16:9 picture letterboxed in its 640x720 tile.
  for (const t of [4.5, 10]) {
    frame = await frameAt(outFile, t, W, H);
    assertColour(frame, 320, 360, RED, `t=${t} A left`);
    assertColour(frame, 960, 360, BLUE, `t=${t} B right`);
    assertColour(frame, 320, 90, DARK, `t=${t} letterbox above A, in the tile colour`);
    assertColour(frame, 960, 630, DARK, `t=${t} letterbox below B`);
  }
  // t=7.5: 2x2 with the last row centred: A, B on top, C (no video) as a dark tile below.
  frame = await frameAt(outFile, 7.5, W, H);
  assertColour(frame, 320, 180, RED, "A top left");
  assertColour(frame, 960, 180, BLUE, "B top right");
  assertColour(frame, 640, 540, DARK, "C's dark tile, bottom centre");
  assertColour(frame, 100, 540, BLACK, "left of the centred last row");
  assertColour(frame, 1180, 540, BLACK, "right of the centred last row");
  // t=3.1: B is in the room but its video has not started: a dark tile beside A.
  frame = await frameAt(outFile, 3.1, W, H);
  assertColour(frame, 960, 360, DARK, "B before its video starts");

  // Audio: every beep of A lands where it was sent, across all three joins; every peer is heard.
  const onsets = await beepOnsets(outFile, 1000);
  assert.equal(onsets.length, 12, `onsets ${onsets.map((o) => o.toFixed(1))}`);
  const drift = onsets.map((ms, i) => ms - i * 1000);
  assert.ok(
    drift.every((d) => Math.abs(d) < 3),
    `A/V drift at joins (ms): ${drift.map((d) => d.toFixed(1))}`,
  );
  assert.ok((await audioLevel(outFile, 0.2, 0.5)) > 0.05, "audio present at the start");
  assert.ok((await audioLevel(outFile, 11.2, 0.5)) > 0.05, "audio present at the end");
});

test("nobody in the room: black and silent; the reflow after a gap; a session without tracks is an input error", async () => {
  const workDir = f("work-gap");
  const outFile = f("gap.mp4");
  const plan = planComposite({
    sessionStartedAt: "2024-05-01T10:00:00.000Z",
    durationMs: 5000,
    peers: [
      {
        peerId: "A",
        name: "Alice",
        joinedAtMs: 0,
        leftAtMs: 2000,
        video: { file: f("a.webm"), startMs: 0 },
        audio: { file: f("a-audio.webm"), startMs: 0 },
      },
      { peerId: "B", name: "Bob", joinedAtMs: 3000, leftAtMs: 5000, video: { file: f("b.webm"), startMs: 3000 } },
    ],
  });
  const r = await composeSession(plan, { workDir, outFile });
  assert.ok(Math.abs(r.durationSeconds - 5) < 0.5, `duration ${r.durationSeconds}`);
  assertColour(await frameAt(outFile, 1, W, H), 640, 360, RED, "A alone");
  assertColour(await frameAt(outFile, 2.5, W, H), 640, 360, BLACK, "nobody");
  assertColour(await frameAt(outFile, 4, W, H), 640, 360, BLUE, "B alone");
  assert.ok((await audioLevel(outFile, 2.2, 0.6)) < 0.001, "silence while nobody is there");
  assert.ok((await audioLevel(outFile, 3.5, 1)) < 0.001, "B has no audio track");

  const empty = planComposite({
    sessionStartedAt: "2024-05-01T10:00:00.000Z",
    durationMs: 5000,
    peers: [{ peerId: "A", name: "A", joinedAtMs: 0 }],
  });
  await assert.rejects(composeSession(empty, { workDir, outFile: f("none.mp4") }), CompositeInputError);
  await assert.rejects(composeSession({ ...empty, segments: [] }, { workDir, outFile: f("none.mp4") }), CompositeInputError);
  assert.ok(!fs.existsSync(f("none.mp4")));
});

/** ffmpeg processes that are children of this test process. */
function ffmpegChildren(): number[] {
  const kids = fs
    .readdirSync(`/proc/${process.pid}/task`)
    .flatMap((t) => fs.readFileSync(`/proc/${process.pid}/task/${t}/children`, "utf8").trim().split(" ").filter(Boolean).map(Number));
  return kids.filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "ffmpeg";
    } catch {
      return false;
    }
  });
}

test("an abort mid-compose kills the running segments, leaves no partial file and no ffmpeg behind", async () => {
  const workDir = f("work-abort");
  const outFile = f("aborted.mp4");
  const ac = new AbortController();
  let running = 0;
  // Abort when the first segment is done: with two at once, the second is then mid-run.
  const log: MediaLog = {
    debug: (_o, msg) => {
      if (msg === "media process starting") running++;
    },
    warn: () => {},
    info: (_o, msg) => {
      if (msg === "composite segment rendered") ac.abort();
    },
  };
  const plan = planComposite({ sessionStartedAt: "2024-05-01T10:00:00.000Z", durationMs: 12_000, peers: peers() });
  const err = await composeSession(plan, { workDir, outFile, concurrency: 2, signal: ac.signal, log }).catch((e: unknown) => e);
  assert.ok(err instanceof MediaProcessError, String(err));
  assert.equal(err.code, "media_aborted");
  assert.ok(running >= 2, "a second run was going when the abort came");
  assert.deepEqual(ffmpegChildren(), [], "no ffmpeg left running");
  assert.ok(!fs.existsSync(outFile));
  assert.deepEqual(
    fs.readdirSync(workDir).filter((n) => !/^seg-\d{8}-[0-9a-f]{16}\.mov$/.test(n)),
    [],
    "no partial segment",
  );
});
