import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { mintAppToken, mintManagementToken } from "../src/auth/tokens.ts";
import { CHROMIUM_ARGS, CHROMIUM_PATH } from "../src/recorders/browser/chromium-process.ts";
import { buildSyntheticFileArgs } from "../src/media/ffmpeg-args.ts";
import { joinSynthetic, type SyntheticParticipant } from "../src/participant/synthetic.ts";
import { avOffsetsMs } from "../test/support/media-fixtures.ts";
import { startAvPage } from "../test/support/av-page.ts";
import { benchApi } from "./api.ts";
import { median, processTree, processesCores } from "./proc.ts";
import { startServer } from "./sfu.bench.ts";

// Browser recording ("beam") at 720p30 and 1080p30 on a real `tapedeck serve` (api, SFU, worker), in
// a room with two synthetic publishers (720p30 VP8 + Opus, looped from a file, so their cost stays in
// this process): for each size, a recording of BENCH_BEAM_SECONDS (default 30) through the API.
//   - CPU cores per recording: the recorder's Chromium (all its processes) and its ffmpeg, over the
//     middle of the recording. Baseline: the same built-in page at the same size in the same Chromium,
//     joined to the same room, rendering only (no capture, no encoder): what showing the room costs.
//   - achieved fps: frames in the file over its duration. Baseline: the publishers' 30 fps.
//   - A/V offset: a second, 10 s recording of a page that flashes and beeps together (median of the
//     flashes; audio minus video, ms). Baseline: 0 (the page draws each flash in the frame its beep plays).
//   - start latency: from the start call to the first recorded byte in the spool. Baseline: a cold
//     Chromium launch to a loaded blank page, the part no recorder can avoid.
//   - stop → `beam.recording.success` (its webhook event's creation). Baseline: uploading the same
//     finished file to the same bucket from scratch after the stop, as a recorder that uploads at the
//     end must (the bucket is local, so this is the smallest such cost).
//   - headroom: two 720p recordings at once in two rooms (one publisher each): fps of each, total cores.

const SECONDS = Number(process.env.BENCH_BEAM_SECONDS ?? 30);
const SIZES = [
  { label: "720p30", width: 1280, height: 720 },
  { label: "1080p30", width: 1920, height: 1080 },
];
const say = (line: string) => console.error(`[bench beam] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every process of the recorder(s) under `serverPid`: Chromium with the tab-capture flag, and its ffmpeg. */
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

function frames(file: string): { fps: number; seconds: number } {
  const n = Number(
    execFileSync("ffprobe", [
      "-v",
      "error",
      "-count_frames",
      "-select_streams",
      "v:0",
      "-show_entries",
      "stream=nb_read_frames",
      "-of",
      "csv=p=0",
      file,
    ])
      .toString()
      .trim(),
  );
  const seconds = Number(
    execFileSync("ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", file]).toString().trim(),
  );
  return { fps: n / seconds, seconds };
}

export async function benchBeam(): Promise<Array<[string, string, string]>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-bench-beam-"));
  const dataDir = path.join(dir, "data");
  const source = path.join(dir, "clock-720p.webm");
  const enc = spawnSync(
    "ffmpeg",
    buildSyntheticFileArgs({ width: 1280, height: 720, fps: 30, seconds: 20, videoBitrateKbps: 1500, out: source }),
  );
  if (enc.status !== 0) throw new Error(`could not encode the bench source: ${enc.stderr}`);
  const server = await startServer(dataDir, { TAPEDECK_ROLES: "api,sfu,worker", TAPEDECK_SFU_CPU_LIMIT: "off" });
  const av = await startAvPage();
  const { identity, post } = await benchApi(server.url, dataDir);
  const mgmt = await mintManagementToken(identity);
  const get = async (p: string) => (await fetch(server.url + p, { headers: { authorization: `Bearer ${mgmt}` } })).json();
  const peers: SyntheticParticipant[] = [];
  const rows: Array<[string, string, string]> = [];
  const join = async (roomId: string, name: string) => {
    const p = await joinSynthetic({
      baseUrl: server.url,
      token: await mintAppToken(identity, { roomId, role: "host" }),
      name,
      mediaFile: source,
    });
    void p.done.then((why) => why !== "left" && say(`${name} ended early: ${why}`));
    peers.push(p);
    return p;
  };

  /** One recording through the API; returns its figures and file. */
  const record = async (roomId: string, body: Record<string, unknown>, seconds: number, measureCpu: boolean) => {
    const t0 = performance.now();
    const rec = await post(`/v2/recordings/room/${roomId}/start`, body);
    const spool = path.join(dataDir, "beam", rec.id, "recording.mp4");
    for (let i = 0; !(fs.existsSync(spool) && fs.statSync(spool).size > 0); i++) {
      if (i > 2000) throw new Error("no recorded byte within 40 s");
      await sleep(20);
    }
    const startMs = performance.now() - t0;
    let cpu = NaN;
    if (measureCpu) {
      await sleep(Math.min(5000, (seconds * 1000) / 6));
      cpu = await processesCores(() => recorderPids(server.pid), (seconds * 1000 * 2) / 3);
    }
    const rest = seconds * 1000 - (performance.now() - t0 - startMs);
    if (rest > 0) await sleep(rest);
    const tStop = Date.now();
    await post(`/v2/recordings/${rec.id}/stop`, {});
    let success: { timestamp: string; data: { recording_presigned_url: string; size: number } } | undefined;
    for (let i = 0; !success; i++) {
      if (i > 1200) throw new Error(`no beam.recording.success for ${rec.id} within 120 s`);
      await sleep(100);
      success = (await get(`/v2/analytics/events?type=beam.recording.success&room_id=${roomId}&limit=100`)).events?.find(
        (e: any) => e.data.beam_id === rec.id,
      );
    }
    const stopToSuccessMs = Date.parse(success.timestamp) - tStop;
    const file = path.join(dir, `${rec.id}.mp4`);
    fs.writeFileSync(file, Buffer.from(await (await fetch(success.data.recording_presigned_url)).arrayBuffer()));
    return { id: rec.id, startMs, cpu, stopToSuccessMs, file, size: success.data.size };
  };

  try {
    const room = await post("/v2/rooms", { name: "bench-beam" });
    await join(room.id, "Publisher 1");
    await join(room.id, "Publisher 2");

    // Start-latency baseline: a cold Chromium to a loaded blank page.
    const cold: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      const b = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
      await (await b.newPage()).goto("about:blank");
      cold.push(performance.now() - t);
      await b.close();
    }

    for (const size of SIZES) {
      say(`${size.label}: ${SECONDS} s recording of 2 publishers`);
      const r = await record(room.id, { resolution: { width: size.width, height: size.height } }, SECONDS, true);
      const f = frames(r.file);

      // Rendering-only baseline: the built-in page, same size, same room, no capture.
      const token = await mintAppToken(identity, { roomId: room.id, role: "__internal_recorder" });
      const b = await chromium.launch({
        executablePath: CHROMIUM_PATH,
        headless: true,
        args: CHROMIUM_ARGS,
        ignoreDefaultArgs: ["--mute-audio"],
      });
      const page = await (await b.newContext({ viewport: { width: size.width, height: size.height }, deviceScaleFactor: 1 })).newPage();
      await page.goto(`${server.url}/room/${room.id}?auth_token=${token}&name=Baseline&skip_preview=true&recorder=1`);
      await page.waitForFunction("window.tapedeck && window.tapedeck.recorder && window.tapedeck.recorder.ready", undefined, {
        timeout: 20_000,
      });
      await sleep(3000);
      const renderPids = () => {
        const own = fs
          .readdirSync("/proc")
          .filter((x) => /^\d+$/.test(x))
          .map(Number)
          .filter((p) => {
            try {
              const a = fs.readFileSync(`/proc/${p}/cmdline`, "utf8");
              return a.includes("--auto-accept-this-tab-capture") && !a.includes("--type=") && !processTree(server.pid).includes(p);
            } catch {
              return false;
            }
          });
        return own.flatMap((p) => processTree(p));
      };
      const renderOnly = await processesCores(renderPids, (SECONDS * 1000 * 2) / 3);
      await b.close();

      // A/V offset: the flash-and-beep page at this size.
      const avRoom = await post("/v2/rooms", { name: `bench-beam-av-${size.label}` });
      const avRec = await record(avRoom.id, { meeting_url: av.url, resolution: { width: size.width, height: size.height } }, 10, false);
      const { offsets } = await avOffsetsMs(avRec.file);

      // Upload-at-the-end baseline: the finished file put again into the same (internal) bucket.
      const tUp = performance.now();
      const key = `bench-baseline/${r.id}.mp4`;
      fs.mkdirSync(path.join(dataDir, "bucket", "bench-baseline"), { recursive: true });
      fs.copyFileSync(r.file, path.join(dataDir, "bucket", key));
      execFileSync("ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path.join(dataDir, "bucket", key)]);
      const uploadAtEndMs = performance.now() - tUp;

      rows.push(
        [
          `beam ${size.label}: CPU per recording`,
          `${r.cpu.toFixed(2)} cores`,
          `rendering the same page only: ${renderOnly.toFixed(2)} cores`,
        ],
        [`beam ${size.label}: achieved fps`, `${f.fps.toFixed(1)} fps (${f.seconds.toFixed(1)} s file)`, "publishers send 30 fps"],
        [
          `beam ${size.label}: A/V offset (audio − video)`,
          `${median(offsets).toFixed(0)} ms median (${offsets.map((o) => o.toFixed(0)).join(", ")})`,
          "source: 0 ms",
        ],
        [
          `beam ${size.label}: start latency (API → first recorded byte)`,
          `${(r.startMs / 1000).toFixed(2)} s`,
          `cold Chromium to a blank page: ${(median(cold) / 1000).toFixed(2)} s`,
        ],
        [
          `beam ${size.label}: stop → beam.recording.success`,
          `${(r.stopToSuccessMs / 1000).toFixed(2)} s (${(r.size / 1e6).toFixed(1)} MB)`,
          `copying + probing the finished file after the stop: ${(uploadAtEndMs / 1000).toFixed(2)} s`,
        ],
      );
      say(
        rows
          .slice(-5)
          .map((x) => x.join(" | "))
          .join("\n"),
      );
    }

    // Headroom: two 720p recordings at once, one publisher each.
    say("two 720p recordings at once");
    const rooms = [await post("/v2/rooms", { name: "bench-beam-a" }), await post("/v2/rooms", { name: "bench-beam-b" })];
    for (const [i, rm] of rooms.entries()) await join(rm.id, `Solo ${i + 1}`);
    const cpuBoth = sleep(8000).then(() => processesCores(() => recorderPids(server.pid), (SECONDS * 1000) / 2));
    const both = await Promise.all(rooms.map((rm) => record(rm.id, { resolution: { width: 1280, height: 720 } }, SECONDS, false)));
    const fpsBoth = both.map((b) => frames(b.file).fps);
    rows.push([
      `beam 720p30: two recordings at once`,
      `${fpsBoth.map((x) => x.toFixed(1)).join(" and ")} fps, ${(await cpuBoth).toFixed(2)} cores together`,
      "one alone: see above",
    ]);
  } finally {
    await Promise.all(peers.map((p) => p.leave().catch(() => undefined)));
    await server.stop();
    await av.close();
    if (!process.env.BENCH_KEEP_DIR) fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await benchBeam();
  for (const [a, b, c] of rows) console.log(`${a}  ${b}  ${c}`);
  process.exit(0);
}
