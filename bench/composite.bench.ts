import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { AUDIO_RATE, buildConcatList, buildSegmentArgs } from "../src/media/composite-args.ts";
import { FONT_FILE } from "../src/media/ffmpeg-args.ts";
import { probe, runFfmpeg } from "../src/media/process.ts";
import { planComposite, tilesFor, type PeerPresence } from "../src/recorders/sfu/composite-layout.ts";
import { composeSession, segmentFile } from "../src/recorders/sfu/composite.ts";
import { beepOnsets, makeAudioWebm, makeVideoWebm } from "../test/support/media-fixtures.ts";
import { median } from "./proc.ts";

// The SFU composite's real-time factor (wall time / media time) for a 4-peer 720p session of 60 s
// (A 0-60 s, B 10-60 s, C 20-50 s, D 30-60 s: five layouts), beside a naive single ffmpeg run that
// re-encodes the same inputs into a fixed 2x2 grid in one filtergraph. Also: how long after the session
// closes the file is ready when the closed segments were rendered during the session, and where the
// audio lands at the joins with PCM segments (ours) versus AAC in every segment joined by copy.

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SECONDS = Number(process.env.BENCH_COMPOSITE_SECONDS ?? 60);

function sessionPeers(dir: string): PeerPresence[] {
  const t = (s: number) => Math.round((s * SECONDS * 1000) / 60);
  const spans: Array<[string, number, number, number]> = [
    ["A", 0, 60, 300],
    ["B", 10, 60, 500],
    ["C", 20, 50, 700],
    ["D", 30, 60, 900],
  ];
  return spans.map(([id, from, to]) => ({
    peerId: id,
    name: `Peer ${id}`,
    joinedAtMs: t(from),
    leftAtMs: t(to),
    video: { file: path.join(dir, `${id}.webm`), startMs: t(from) + 200 },
    audio: { file: path.join(dir, `${id}-audio.webm`), startMs: t(from) + 100 },
  }));
}

async function makeInputs(_dir: string, peers: PeerPresence[]): Promise<void> {
  const colours = ["testsrc2", "testsrc2", "testsrc2", "testsrc2"];
  await Promise.all(
    peers.map(async (p, i) => {
      const seconds = ((p.leftAtMs ?? 0) - p.joinedAtMs) / 1000;
      await makeVideoWebm(p.video!.file, { seconds, width: 1280, height: 720, color: colours[i], gop: 90 });
      await makeAudioWebm(p.audio!.file, { seconds, frequency: 300 + 200 * i });
    }),
  );
}

/** Baseline: one ffmpeg, every input delayed to its start, a fixed 2x2 grid, one encode; no segments. */
export function buildNaiveGridArgs(peers: PeerPresence[], seconds: number, out: string): string[] {
  const tiles = tilesFor(peers.map((p) => p.peerId));
  const inputs: string[] = [];
  const f: string[] = [`color=c=black:s=1280x720:r=30:d=${seconds}[bg]`];
  let last = "bg";
  peers.forEach((p, i) => {
    inputs.push("-itsoffset", String(p.video!.startMs / 1000), "-i", p.video!.file);
    const t = tiles[i];
    f.push(
      `[${i}:v]fps=30,scale=${t.w}:${t.h}:force_original_aspect_ratio=decrease,pad=${t.w}:${t.h}:(ow-iw)/2:(oh-ih)/2,drawtext=fontfile=${FONT_FILE}:text='${p.name}':fontsize=24:fontcolor=white:x=10:y=h-th-10[v${i}]`,
    );
    f.push(`[${last}][v${i}]overlay=x=${t.x}:y=${t.y}:eof_action=pass[o${i}]`);
    last = `o${i}`;
  });
  peers.forEach((p, i) => {
    inputs.push("-i", p.audio!.file);
    f.push(`[${peers.length + i}:a]adelay=delays=${Math.round((p.audio!.startMs / 1000) * AUDIO_RATE)}S:all=1[a${i}]`);
  });
  f.push(`${peers.map((_, i) => `[a${i}]`).join("")}amix=inputs=${peers.length}:duration=longest:normalize=0[aout]`);
  return [
    "-hide_banner",
    "-loglevel",
    "error",
    "-nostdin",
    "-y",
    ...inputs,
    "-filter_complex",
    f.join(";"),
    "-map",
    `[${last}]`,
    "-map",
    "[aout]",
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-crf",
    "23",
    "-pix_fmt",
    "yuv420p",
    "-c:a",
    "aac",
    "-b:a",
    "128k",
    "-t",
    String(seconds),
    "-movflags",
    "+faststart",
    out,
  ];
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

/** Max |offset| in ms of a beeping peer's audio after each join, with PCM segments or AAC segments. */
async function driftAtJoins(dir: string, mode: "pcm" | "aac"): Promise<number> {
  const beeps = path.join(dir, "beep.webm");
  if (!fs.existsSync(beeps)) await makeAudioWebm(beeps, { seconds: 12, frequency: 1000, beep: true });
  const plan = planComposite({
    sessionStartedAt: "2024-01-01T00:00:00Z",
    durationMs: 12_000,
    peers: [
      { peerId: "A", name: "A", joinedAtMs: 0, leftAtMs: 12_000, audio: { file: beeps, startMs: 0 } },
      { peerId: "B", name: "B", joinedAtMs: 3010, leftAtMs: 12_000 },
      { peerId: "C", name: "C", joinedAtMs: 6020, leftAtMs: 9040 },
    ],
  });
  const start = (await probe(beeps)).startTimeSeconds;
  const work = fs.mkdtempSync(path.join(dir, `drift-${mode}-`));
  const files: string[] = [];
  for (const s of plan.segments) {
    const out = path.join(work, `${s.startFrame}.${mode === "aac" ? "mp4" : "mov"}`);
    await runFfmpeg(
      buildSegmentArgs({
        segment: s,
        peers: plan.peers,
        canvas: plan.canvas,
        out,
        audio: mode,
        containerStarts: new Map([[beeps, start]]),
      }),
    );
    files.push(out);
  }
  fs.writeFileSync(path.join(work, "list.txt"), buildConcatList(files));
  const out = path.join(work, "out.mp4");
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
    path.join(work, "list.txt"),
    "-c:v",
    "copy",
    ...(mode === "aac" ? ["-c:a", "copy"] : ["-c:a", "aac", "-b:a", "128k"]),
    out,
  ]);
  const onsets = await beepOnsets(out, 1000);
  return Math.max(...onsets.map((ms, i) => Math.abs(ms - i * 1000)));
}

export async function benchComposite(): Promise<Array<[string, string, string]>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-bench-composite-"));
  try {
    const peers = sessionPeers(dir);
    await makeInputs(dir, peers);
    const plan = planComposite({ sessionStartedAt: "2024-01-01T00:00:00Z", durationMs: SECONDS * 1000, peers });
    const ours: number[] = [];
    const ours2: number[] = [];
    const naive: number[] = [];
    const afterClose: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const workDir = path.join(dir, `work-${run}`);
      const outFile = path.join(dir, `ours-${run}.mp4`);
      ours.push(await timed(() => composeSession(plan, { workDir, outFile })));
      naive.push(await timed(() => runFfmpeg(buildNaiveGridArgs(peers, SECONDS, path.join(dir, `naive-${run}.mp4`)))));
      // Progressive: every segment but the last was rendered while the session ran.
      fs.rmSync(segmentFile(plan, plan.segments.at(-1)!, workDir));
      afterClose.push(await timed(() => composeSession(plan, { workDir, outFile })));
      fs.rmSync(workDir, { recursive: true, force: true });
      ours2.push(await timed(() => composeSession(plan, { workDir, outFile, concurrency: 2 })));
      fs.rmSync(workDir, { recursive: true, force: true });
    }
    const rtf = (s: number) => (s / SECONDS).toFixed(2);
    const [pcm, aac] = [await driftAtJoins(dir, "pcm"), await driftAtJoins(dir, "aac")];
    const lastSeconds = (plan.segments.at(-1)!.endMs - plan.segments.at(-1)!.startMs) / 1000;
    return [
      [
        `composite RTF, 4 peers 720p ${SECONDS} s, ${plan.segments.length} layouts (wall/media, median of ${RUNS})`,
        rtf(median(ours)),
        `naive single-run 2x2 re-encode: ${rtf(median(naive))} (fixed grid: absent peers leave black quarters, cheaper to encode)`,
      ],
      [`composite RTF, same, two segment runs at once`, rtf(median(ours2)), `naive: ${rtf(median(naive))}`],
      [
        `composite ready after session close (closed segments rendered live)`,
        `${median(afterClose).toFixed(1)} s`,
        `last segment ${lastSeconds} s + join; from scratch: ${median(ours).toFixed(1)} s`,
      ],
      [
        `composite audio offset at joins, max (PCM segments, 3 joins in 12 s)`,
        `${pcm.toFixed(1)} ms`,
        `AAC in each segment joined by copy: ${aac.toFixed(1)} ms (cumulative)`,
      ],
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const row of await benchComposite()) console.log(row.join("  |  "));
}
