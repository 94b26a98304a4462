import { execFile, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { mintAppToken, mintManagementToken } from "../src/auth/tokens.ts";
import { buildSyntheticFileArgs } from "../src/media/ffmpeg-args.ts";
import { joinSynthetic, type SyntheticParticipant } from "../src/participant/synthetic.ts";
import { benchApi } from "./api.ts";
import { median, processTree, processesCores } from "./proc.ts";
import { startServer } from "./sfu.bench.ts";

// The live compositor against the browser path, on one real `tapedeck serve` (api, SFU, worker), in the
// same run: rooms of four synthetic publishers (360p30 VP8 + Opus looped from a file, so the sources
// cost little), built-in grid recordings of BENCH_COMPOSITOR_SECONDS (default 20) through the API.
//   - cores per recording: the recorder's processes (the compositor, or Chromium with all its
//     processes) and its capture ffmpeg, over the middle of the recording;
//   - achieved fps: frames in the file over its duration (the publishers send 30);
//   - start: the start call to the first recorded byte;
//   - for 720p30 and 1080p30, each with renderer compositor and renderer browser (the baseline);
//   - three 720p30 recordings at once (three rooms): each one's fps and the cores of all three.
// BENCH_COMPOSITOR_RUNS (default 1) repeats each single recording; medians are printed.

const SECONDS = Number(process.env.BENCH_COMPOSITOR_SECONDS ?? 20);
const RUNS = Number(process.env.BENCH_COMPOSITOR_RUNS ?? 1);
const PUBLISHERS = 4;
const say = (line: string) => console.error(`[bench compositor] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const cmdline = (pid: number): string => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
  } catch {
    return "";
  }
};

/** The recorders' processes under the server: compositors, recorder Chromiums (with their children), capture ffmpegs. */
function recorderPids(serverPid: number): number[] {
  const out: number[] = [];
  for (const pid of processTree(serverPid)) {
    const args = cmdline(pid);
    if (args.includes("gst-compositor.py")) out.push(pid);
    else if (args.includes("--auto-accept-this-tab-capture") && !args.includes("--type=")) out.push(...processTree(pid));
    else if (args.startsWith("ffmpeg") && args.includes("pipe:0")) out.push(pid);
  }
  return [...new Set(out)];
}

const execFileP = promisify(execFile);

/** Frames over duration (never blocking: the publishers in this process must keep answering their SFU). */
async function fpsOf(file: string): Promise<number> {
  const probe = async (...args: string[]) =>
    Number((await execFileP("ffprobe", ["-v", "error", ...args, "-of", "csv=p=0", file])).stdout.trim());
  const n = await probe("-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames");
  return n / (await probe("-show_entries", "format=duration"));
}

export async function benchCompositor(): Promise<Array<[string, string, string]>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-bench-compositor-"));
  const dataDir = path.join(dir, "data");
  const source = path.join(dir, "clock-360p.webm");
  // A keyframe every half second: a looped file cannot answer the recorder's keyframe request, which a
  // browser publisher answers within a frame or two; half a second is the wait this leaves in the start figure.
  const enc = spawnSync(
    "ffmpeg",
    buildSyntheticFileArgs({
      width: 640,
      height: 360,
      fps: 30,
      seconds: 20,
      videoBitrateKbps: 600,
      keyframeIntervalSeconds: 0.5,
      out: source,
    }),
  );
  if (enc.status !== 0) throw new Error(`could not encode the bench source: ${enc.stderr}`);
  const server = await startServer(dataDir, { TAPEDECK_ROLES: "api,sfu,worker", TAPEDECK_SFU_CPU_LIMIT: "off", TAPEDECK_BEAM_MAX: "3" });
  const { identity, post } = await benchApi(server.url, dataDir);
  const mgmt = await mintManagementToken(identity);
  const get = async (p: string) => (await fetch(server.url + p, { headers: { authorization: `Bearer ${mgmt}` } })).json();
  const peers: SyntheticParticipant[] = [];
  const rows: Array<[string, string, string]> = [];

  const room = async (name: string) => {
    const r = await post("/v2/rooms", { name });
    for (let i = 0; i < PUBLISHERS; i++) {
      const p = await joinSynthetic({
        baseUrl: server.url,
        token: await mintAppToken(identity, { roomId: r.id, role: "host" }),
        name: `${name} ${i + 1}`,
        mediaFile: source,
      });
      void p.done.then((why) => why !== "left" && say(`${name} ${i + 1} ended early: ${why}`));
      peers.push(p);
    }
    return r.id as string;
  };

  /** Starts a recording; resolves once its first byte is written, with the start latency. */
  const start = async (roomId: string, body: Record<string, unknown>) => {
    const t0 = performance.now();
    const rec = await post(`/v2/recordings/room/${roomId}/start`, body);
    const spool = path.join(dataDir, "beam", rec.id, "recording.mp4");
    for (let i = 0; !(fs.existsSync(spool) && fs.statSync(spool).size > 0); i++) {
      if (i > 2000) throw new Error("no recorded byte within 40 s");
      await sleep(20);
    }
    return { id: rec.id as string, startMs: performance.now() - t0 };
  };
  /** Stops it and downloads its file once `beam.recording.success` says where it is. */
  const finish = async (roomId: string, id: string) => {
    await post(`/v2/recordings/${id}/stop`, {});
    for (let i = 0; ; i++) {
      if (i > 1200) throw new Error(`no beam.recording.success for ${id} within 120 s`);
      await sleep(100);
      const ev = (await get(`/v2/analytics/events?type=beam.recording.success&room_id=${roomId}&limit=100`)).events?.find(
        (e: { data: { beam_id: string } }) => e.data.beam_id === id,
      );
      if (!ev) continue;
      const file = path.join(dir, `${id}.mp4`);
      fs.writeFileSync(file, Buffer.from(await (await fetch(ev.data.recording_presigned_url)).arrayBuffer()));
      return file;
    }
  };

  try {
    const rooms = [await room("bench-a"), await room("bench-b"), await room("bench-c")];
    await sleep(2000);
    for (const size of [
      { label: "720p30", width: 1280, height: 720 },
      { label: "1080p30", width: 1920, height: 1080 },
    ])
      for (const renderer of ["compositor", "browser"]) {
        const figures: Array<{ cpu: number; fps: number; startMs: number }> = [];
        for (let run = 0; run < RUNS; run++) {
          say(`${size.label} ${renderer}: ${SECONDS} s of a ${PUBLISHERS}-tile grid (run ${run + 1} of ${RUNS})`);
          const t0 = performance.now();
          const r = await start(rooms[0], { resolution: { width: size.width, height: size.height }, renderer });
          await sleep(3000);
          const cpu = await processesCores(() => recorderPids(server.pid), SECONDS * 1000 - 6000);
          await sleep(Math.max(0, SECONDS * 1000 - (performance.now() - t0)));
          const fps = await fpsOf(await finish(rooms[0], r.id));
          figures.push({ cpu, fps, startMs: r.startMs });
        }
        const m = (k: "cpu" | "fps" | "startMs") => median(figures.map((f) => f[k]));
        const tag = `compositor ${size.label} ${PUBLISHERS}-tile grid (renderer ${renderer})`;
        rows.push([
          `${tag}: cores`,
          m("cpu").toFixed(2),
          renderer === "browser" ? "(baseline: the browser path)" : "target ≤ 0.6 at 720p, ≤ 1.2 at 1080p",
        ]);
        rows.push([`${tag}: fps`, m("fps").toFixed(1), "publishers send 30; target ≥ 29.5"]);
        rows.push([
          `${tag}: start → first byte`,
          `${(m("startMs") / 1000).toFixed(2)} s`,
          renderer === "browser" ? "(baseline)" : "target ≤ 1.5 s",
        ]);
      }

    // A live stream with the default ladder (1080p, 720p, 480p, 360p, 240p): the layers the machine keeps,
    // and whether each keeps up (segments written over the time since it was running: 2 s each).
    for (const renderer of ["compositor", "browser"]) {
      say(`live stream, default ladder, renderer ${renderer}: ${SECONDS} s`);
      const s = await post(`/v2/live-streams/room/${rooms[0]}/start`, { renderer });
      let running: { status: string; layers: Array<{ layer: number; height: number }>; playback: { url: string }; ladder_warning?: string };
      for (let i = 0; (running = await get(`/v2/live-streams/${s.id}`)).status !== "running"; i++) {
        if (running.status === "failed" || i > 600) throw new Error(`stream did not run: ${JSON.stringify(running)}`);
        await sleep(100);
      }
      const since = performance.now();
      await sleep(3000);
      const cpu = await processesCores(() => recorderPids(server.pid), SECONDS * 1000 - 6000);
      const base = running.playback.url.replace(/master\.m3u8$/, "");
      const elapsed = (performance.now() - since) / 1000;
      const pace = await Promise.all(
        running.layers.map(async (l) => {
          const text = await (await fetch(`${base}${l.layer}/index.m3u8`)).text();
          return ((text.match(/#EXTINF/g) ?? []).length * 2) / elapsed;
        }),
      );
      await post(`/v2/live-streams/${s.id}/stop`, {});
      for (let i = 0; !["completed", "failed"].includes((await get(`/v2/live-streams/${s.id}`)).status); i++) {
        if (i > 1800) throw new Error("the stream did not complete within 180 s");
        await sleep(100);
      }
      const tag = `compositor: live stream, default 5-layer ladder (renderer ${renderer})`;
      rows.push([
        `${tag}: layers`,
        running.layers.map((l) => `${l.height}p`).join(" "),
        running.ladder_warning ? `(${running.ladder_warning})` : "no layer left out",
      ]);
      rows.push([`${tag}: cores`, cpu.toFixed(2), `of ${os.cpus().length}`]);
      rows.push([`${tag}: slowest layer's pace`, `${Math.min(...pace).toFixed(2)}x`, "segments written / time running (1.00x: real time)"]);
    }

    say(`three 720p30 recordings at once, ${SECONDS} s`);
    const t0 = performance.now();
    const three = await Promise.all(rooms.map((roomId) => start(roomId, { renderer: "compositor" })));
    await sleep(3000);
    const cpu = await processesCores(() => recorderPids(server.pid), SECONDS * 1000 - 6000);
    await sleep(Math.max(0, SECONDS * 1000 - (performance.now() - t0)));
    const fps = await Promise.all(three.map(async (r, i) => fpsOf(await finish(rooms[i], r.id))));
    rows.push(["compositor: three 720p30 recordings at once: fps of each", fps.map((f) => f.toFixed(1)).join(" / "), "target ≥ 29 each"]);
    rows.push(["compositor: three 720p30 recordings at once: cores", cpu.toFixed(2), `of ${os.cpus().length}`]);
  } finally {
    await Promise.all(peers.map((p) => p.leave().catch(() => {})));
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await benchCompositor();
  for (const [a, b, c] of rows) console.log(`${a}  ${b}  ${c}`);
  process.exit(0);
}
