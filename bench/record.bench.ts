import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { mintAppToken } from "../src/auth/tokens.ts";
import { buildSyntheticFileArgs } from "../src/media/ffmpeg-args.ts";
import { joinSynthetic, type SyntheticParticipant } from "../src/participant/synthetic.ts";
import { benchApi } from "./api.ts";
import { measureCores, median } from "./proc.ts";
import { startServer } from "./sfu.bench.ts";

// What SFU track recording costs: the same publishers (720p VP8 + Opus each, looped from a file as in
// sfu.bench.ts) in a room that records (`recording_info.enabled`: every published track written to a
// WebM in <data>/spool/tracks) and in one that does not, on one `tapedeck serve` (api + SFU shards, no
// worker, so nothing is uploaded). The two cases alternate across runs to cancel the drift of a noisy
// machine; each case's CPU is the median of its windows over all runs, after a warm-up per join.

const PUBLISHERS = 4;
const TRACKS = PUBLISHERS * 2;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const WINDOWS = 2;
const WINDOW_MS = 4_000;
const WARMUP_MS = 3_000;
// After the peers leave, let the session close (recordings finished, jobs queued) before the next
// room's joins: the rooms may sit on different shard processes sharing one SQLite file, and a join
// racing that close can fail with "database is locked" (and the client then times out 10 s later).
const SETTLE_MS = 1_500;
const SOURCE_SECONDS = 10;

function dirBytes(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    try {
      n += fs.statSync(path.join(e.parentPath, e.name)).size;
    } catch {
      // finished and moved meanwhile
    }
  }
  return n;
}

export async function benchRecord(): Promise<Array<[string, string, string]>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-bench-record-"));
  const dataDir = path.join(dir, "data");
  const spool = path.join(dataDir, "spool", "tracks");
  const file = path.join(dir, "clock-720p.webm");
  const enc = spawnSync(
    "ffmpeg",
    buildSyntheticFileArgs({ width: 1280, height: 720, fps: 30, seconds: SOURCE_SECONDS, videoBitrateKbps: 1500, out: file }),
  );
  if (enc.status !== 0) throw new Error(`could not encode the bench source: ${enc.stderr}`);
  const sourceBytes = fs.statSync(file).size;
  const server = await startServer(dataDir);
  const peers: SyntheticParticipant[] = [];
  try {
    const { identity, post: api } = await benchApi(server.url, dataDir);
    const t = await api("/v2/templates", { name: "bench-record", roles: { pub: { subscribeParams: { subscribeToRoles: [] } } } });
    const plain = await api("/v2/rooms", { name: "bench-plain", template_id: t.id });
    const recorded = await api("/v2/rooms", { name: "bench-recorded", template_id: t.id, recording_info: { enabled: true } });
    if (recorded.recording_info?.enabled !== true)
      throw new Error(`the recorded room does not record: ${JSON.stringify(recorded.recording_info)}`);

    const idle: number[] = [];
    for (let i = 0; i < 3; i++) idle.push(await measureCores(server.pid, WINDOW_MS / 2));

    const cpu = { plain: [] as number[], recorded: [] as number[] };
    let spoolBytes = 0;
    let spoolSeconds = 0;
    const runCase = async (which: "plain" | "recorded") => {
      const roomId = (which === "plain" ? plain : recorded).id;
      for (let i = 0; i < PUBLISHERS; i++) {
        const token = await mintAppToken(identity, { roomId, role: "pub" });
        const p = await joinSynthetic({ baseUrl: server.url, token, name: `${which}-${i}`, mediaFile: file });
        void p.done.then((why) => why !== "left" && console.error(`bench participant ended early: ${why}`));
        peers.push(p);
      }
      await new Promise((r) => setTimeout(r, WARMUP_MS));
      const b0 = dirBytes(spool);
      const t0 = performance.now();
      for (let w = 0; w < WINDOWS; w++) cpu[which].push(await measureCores(server.pid, WINDOW_MS));
      const grew = dirBytes(spool) - b0;
      if (which === "recorded") {
        spoolBytes += grew;
        spoolSeconds += (performance.now() - t0) / 1000;
      } else if (grew > 0) console.error(`bench: the spool grew by ${grew} bytes while the unrecorded room ran`);
      for (const p of peers.splice(0)) await p.leave();
      await new Promise((r) => setTimeout(r, SETTLE_MS));
    };
    for (let i = 0; i < RUNS; i++) {
      for (const which of i % 2 ? (["recorded", "plain"] as const) : (["plain", "recorded"] as const)) await runCase(which);
    }
    if (spoolBytes === 0) throw new Error("the recorded room wrote nothing to the spool");

    const mIdle = median(idle);
    const mPlain = median(cpu.plain);
    const mRec = median(cpu.recorded);
    const perRecTrack = (mRec - mPlain) / TRACKS;
    const perPlainTrack = (mPlain - mIdle) / TRACKS;
    const pct = (x: number) => (x * 100).toFixed(2);
    return [
      [
        "SFU CPU per recorded track (720p VP8 or Opus)",
        `${pct(perRecTrack)} % of a core`,
        `baseline: same publishers not recorded, ${pct(perPlainTrack)} % per track over idle (${(mIdle * 100).toFixed(1)} %); ${PUBLISHERS} publishers, ${TRACKS} tracks, medians of ${RUNS * WINDOWS} windows, cases alternated`,
      ],
      [
        "SFU recording spool write rate",
        `${(spoolBytes / spoolSeconds / 1000).toFixed(0)} kB/s`,
        `${TRACKS} tracks to <data>/spool/tracks; the ${PUBLISHERS} sources send ${((PUBLISHERS * sourceBytes) / SOURCE_SECONDS / 1000).toFixed(0)} kB/s`,
      ],
    ];
  } finally {
    for (const p of peers) await p.leave();
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
