import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { mintAppToken, mintManagementToken } from "../src/auth/tokens.ts";
import { COST, DEFAULT_LAYERS, ladderArgs, ladderCost, PRESETS, type Layer, type Preset } from "../src/recorders/hls/ladder.ts";
import { buildSyntheticFileArgs } from "../src/media/ffmpeg-args.ts";
import { joinSynthetic, type SyntheticParticipant } from "../src/participant/synthetic.ts";
import { benchApi } from "./api.ts";
import { cpuSeconds, median, processTree } from "./proc.ts";
import { startServer } from "./sfu.bench.ts";

// Live streaming (HLS).
//   1. The ladder encoder, offline on a 1080p30 H.264 source shaped like the recorder's (Matroska,
//      H.264 + Opus, variable timestamps), run as fast as it goes: CPU seconds per second of media is
//      the cores that layer needs live. Per rung: one layer alone, less decoding the source alone.
//      The whole 5-rung ladder (one decode, split, five x264) against its baseline, five separate
//      encodes (each decoding the source again), for each x264 preset. These are the figures
//      src/hls/ladder.ts's COST is fitted to (printed: the fit, beside the model's estimate).
//   2. Live, on a real `tapedeck serve` with two synthetic 720p publishers: a stream with the default
//      ladder (cut to this machine's cores as users would get it) for BENCH_HLS_SECONDS (default 30):
//      cores of its recorder (Chromium + the ladder's ffmpeg) while live, and stop →
//      `hls.recording.success`. Baseline: what a recorder that encodes the layers after the stop
//      would spend: re-encoding the top layer's MP4 into each lower layer, one after another.

const SECONDS = Number(process.env.BENCH_HLS_SECONDS ?? 30);
const RUNS = Number(process.env.BENCH_HLS_RUNS ?? 3);
const say = (line: string) => console.error(`[bench hls] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const name = (l: Layer) => `${l.height}p`;

/** CPU seconds (user + sys) of one ffmpeg run: bash's `times` prints its children's totals. */
function ffmpegCpu(args: string[], stdinFile?: string): number {
  const r = spawnSync("bash", ["-c", `ffmpeg "$@" < ${stdinFile ? '"$STDIN_FILE"' : "/dev/null"} || exit 1; times`, "ffmpeg", ...args], {
    encoding: "utf8",
    env: { ...process.env, STDIN_FILE: stdinFile ?? "" },
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`ffmpeg failed: ${r.stderr.slice(-500)}`);
  const children = r.stdout.trim().split("\n").pop()!;
  const secs = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return secs[0] + secs[1];
}

/** Median of RUNS measurements of `f`. */
const med = (f: () => number) => median(Array.from({ length: RUNS }, f));

export async function benchHls(): Promise<Array<[string, string, string]>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-bench-hls-"));
  const rows: Array<[string, string, string]> = [];
  const media = 8;
  try {
    // The source: 1080p30 H.264 + Opus in Matroska, as MediaRecorder hands it over.
    const source = path.join(dir, "capture-1080p.mkv");
    const enc = spawnSync("ffmpeg", [
      "-hide_banner",
      "-loglevel",
      "error",
      "-y",
      "-f",
      "lavfi",
      "-i",
      `testsrc2=size=1920x1080:rate=30:duration=${media}`,
      "-f",
      "lavfi",
      "-i",
      `sine=frequency=440:sample_rate=48000:duration=${media}`,
      "-c:v",
      "libx264",
      "-preset",
      "ultrafast",
      "-b:v",
      "5000k",
      "-g",
      "60",
      "-c:a",
      "libopus",
      "-b:a",
      "128k",
      "-f",
      "matroska",
      source,
    ]);
    if (enc.status !== 0) throw new Error(`could not make the bench source: ${enc.stderr}`);
    const out = path.join(dir, "out");
    const fresh = () => {
      fs.rmSync(out, { recursive: true, force: true });
      fs.mkdirSync(out, { recursive: true });
      return out;
    };
    const decodeOnly =
      med(() =>
        ffmpegCpu(["-hide_banner", "-loglevel", "error", "-f", "webm", "-i", "pipe:0", "-vf", "fps=30", "-f", "null", "-"], source),
      ) / media;
    rows.push([
      "hls: decoding the 1080p30 capture (once per stream)",
      `${decodeOnly.toFixed(2)} cores`,
      "measured offline, median of runs",
    ]);

    for (const preset of PRESETS) {
      const perRung: number[] = [];
      let separate = 0; // each layer alone is exactly a separate per-layer encode (decoding the source again)
      for (const layer of DEFAULT_LAYERS) {
        const alone = med(() => ffmpegCpu(ladderArgs([layer], fresh(), preset), source)) / media;
        separate += alone;
        perRung.push(Math.max(0, alone - decodeOnly));
      }
      const ladder = med(() => ffmpegCpu(ladderArgs(DEFAULT_LAYERS, fresh(), preset), source)) / media;
      // Least squares: cores = fixed + perMegapixel × megapixels (the fixed part is scaling the capture, audio, muxing).
      const xs = DEFAULT_LAYERS.map((l) => (l.width * l.height) / 1e6);
      const mx = xs.reduce((a, b) => a + b) / xs.length;
      const my = perRung.reduce((a, b) => a + b) / perRung.length;
      const slope = xs.reduce((a, x, i) => a + (x - mx) * (perRung[i] - my), 0) / xs.reduce((a, x) => a + (x - mx) ** 2, 0);
      const fit = { perMegapixel: slope, fixed: my - slope * mx };
      rows.push(
        [
          `hls ${preset}: x264 per rung while live (cores)`,
          DEFAULT_LAYERS.map((l, i) => `${name(l)} ${perRung[i].toFixed(2)}`).join(", "),
          `fit: ${fit.fixed.toFixed(2)} + ${fit.perMegapixel.toFixed(2)} per megapixel (model: ${COST.rungFixed} + ${COST.encodePerMegapixel[preset]})`,
        ],
        [
          `hls ${preset}: the 5-rung ladder, one process`,
          `${ladder.toFixed(2)} cores`,
          `five separate per-layer encodes: ${separate.toFixed(2)} cores (${((1 - ladder / separate) * 100).toFixed(0)} % saved)`,
        ],
      );
      say(
        rows
          .slice(-2)
          .map((x) => x.join(" | "))
          .join("\n"),
      );
    }
    rows.push([
      "hls: the model's estimate of the default ladder",
      `${PRESETS.map((p) => `${p} ${ladderCost(DEFAULT_LAYERS, p as Preset).toFixed(2)}`).join(", ")} cores`,
      "capture (Chromium at the top size) + x264 per layer, src/hls/ladder.ts",
    ]);

    rows.push(...(await live(dir)));
  } finally {
    if (!process.env.BENCH_KEEP_DIR) fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

/** Every process of the stream's recorder under `serverPid`: Chromium with the tab-capture flag, and the ladder's ffmpeg. */
function recorderPids(serverPid: number): number[] {
  const out: number[] = [];
  for (const pid of processTree(serverPid)) {
    let args = "";
    try {
      args = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
    } catch {
      continue;
    }
    if (args.includes("--auto-accept-this-tab-capture") && !args.includes("--type=")) out.push(...processTree(pid));
    else if (args.startsWith("ffmpeg") && args.includes("pipe:0")) out.push(pid);
  }
  return [...new Set(out)];
}

async function live(dir: string): Promise<Array<[string, string, string]>> {
  const dataDir = path.join(dir, "data");
  const source = path.join(dir, "clock-720p.webm");
  const enc = spawnSync(
    "ffmpeg",
    buildSyntheticFileArgs({ width: 1280, height: 720, fps: 30, seconds: 20, videoBitrateKbps: 1500, out: source }),
  );
  if (enc.status !== 0) throw new Error(`could not encode the publishers' source: ${enc.stderr}`);
  const server = await startServer(dataDir, { TAPEDECK_ROLES: "api,sfu,worker", TAPEDECK_SFU_CPU_LIMIT: "off" });
  const { identity, post } = await benchApi(server.url, dataDir);
  const mgmt = await mintManagementToken(identity);
  const get = async (p: string) => (await fetch(server.url + p, { headers: { authorization: `Bearer ${mgmt}` } })).json();
  const peers: SyntheticParticipant[] = [];
  try {
    const room = await post("/v2/rooms", { name: "bench-hls" });
    for (const n of ["Publisher 1", "Publisher 2"]) {
      const p = await joinSynthetic({
        baseUrl: server.url,
        token: await mintAppToken(identity, { roomId: room.id, role: "host" }),
        name: n,
        mediaFile: source,
      });
      peers.push(p);
    }
    const s = await post(`/v2/live-streams/room/${room.id}/start`, {});
    let running: any;
    for (let i = 0; !(running = await get(`/v2/live-streams/${s.id}`)) || running.status !== "running"; i++) {
      if (running?.status === "failed" || i > 600) throw new Error(`stream did not run: ${JSON.stringify(running)}`);
      await sleep(100);
    }
    say(
      `live: ${running.layers.map((l: any) => `${l.height}p`).join(", ")}${running.ladder_warning ? ` (${running.ladder_warning})` : ""}`,
    );
    await sleep(5000);
    const pids = recorderPids(server.pid);
    const c0 = pids.reduce((n, p) => n + cpuSeconds(p), 0);
    const t0 = performance.now();
    await sleep(Math.max(5000, SECONDS * 1000 - 10_000));
    const coresLive =
      (pids.reduce((n, p) => n + (fs.existsSync(`/proc/${p}`) ? cpuSeconds(p) : 0), 0) - c0) / ((performance.now() - t0) / 1000);
    await sleep(5000);
    const tStop = Date.now();
    await post(`/v2/live-streams/${s.id}/stop`, {});
    let success: any;
    for (let i = 0; !success; i++) {
      if (i > 1800) throw new Error(`no hls.recording.success within 180 s`);
      await sleep(100);
      success = (await get(`/v2/analytics/events?type=hls.recording.success&room_id=${room.id}&limit=100`)).events?.find(
        (e: any) => e.data.beam_id === s.id,
      );
    }
    const stopToSuccess = (Date.parse(success.timestamp) - tStop) / 1000;
    // Baseline: the lower layers encoded from the top layer's file after the stop.
    const files = [...success.data.recording_single_files].sort((a: any, b: any) => Number(a.layer) - Number(b.layer));
    const top = path.join(dir, "top.mp4");
    fs.writeFileSync(top, Buffer.from(await (await fetch(files[0].recording_presigned_url)).arrayBuffer()));
    const tb = performance.now();
    for (const f of files.slice(1)) {
      const r = spawnSync("ffmpeg", [
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-i",
        top,
        "-vf",
        `scale=${f.width}:${f.height}`,
        "-c:v",
        "libx264",
        "-preset",
        "superfast",
        "-c:a",
        "aac",
        path.join(dir, `re-${f.layer}.mp4`),
      ]);
      if (r.status !== 0) throw new Error(`baseline encode failed: ${r.stderr}`);
    }
    const encodeAfter = (performance.now() - tb) / 1000;
    return [
      [
        `hls live: cores of the recorder (Chromium + ladder)`,
        `${coresLive.toFixed(2)} cores for ${running.layers.map((l: any) => `${l.height}p`).join("+")}`,
        `model's estimate: ${ladderCost(
          running.layers.map((l: any) => ({ width: l.width, height: l.height, videoBitrate: 0, audioBitrate: 0 })),
          (process.env.TAPEDECK_HLS_PRESET as Preset) ?? "superfast",
        ).toFixed(2)} cores${running.ladder_warning ? `; cut: ${running.ladder_warning}` : ""}`,
      ],
      [
        `hls live: stop → hls.recording.success (${SECONDS} s stream, VOD zip + ${files.length} MP4s)`,
        `${stopToSuccess.toFixed(2)} s`,
        `encoding the ${files.length - 1} lower layers from the top one after the stop: ${encodeAfter.toFixed(2)} s`,
      ],
    ];
  } finally {
    await Promise.all(peers.map((p) => p.leave().catch(() => undefined)));
    await server.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await benchHls();
  for (const [a, b, c] of rows) console.log(`${a}  ${b}  ${c}`);
  process.exit(0);
}
