import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { mintAppToken, mintManagementToken } from "../src/auth/tokens.ts";
import { loadIdentity } from "../src/config/identity.ts";
import { buildSyntheticFileArgs } from "../src/media/ffmpeg-args.ts";
import { joinSynthetic, type SyntheticParticipant } from "../src/participant/synthetic.ts";
import { measureCores, median } from "./proc.ts";

// SFU cost, measured on a real `tapedeck serve` (its api process and its SFU shard processes together): CPU per 720p publisher (ingest + REMB) and
// per forwarded stream (one peer's video+audio to one subscriber), each against the idle server
// measured in the same run. Publishers loop a pre-encoded VP8/Opus file (ffmpeg -c copy), so the
// media sources themselves cost little.

const WINDOW_MS = 8_000;
const WARMUP_MS = 3_000;
const RUNS = 3;

/** A real `tapedeck serve` on a free port; over HTTPS when `env` gives it a certificate. */
export async function startServer(dataDir: string, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ["bin/tapedeck.js", "serve"], {
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", TAPEDECK_DATA_DIR: dataDir, LOG_LEVEL: "warn", TAPEDECK_ROLES: "api,sfu", ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.once("exit", (c) => reject(new Error(`server exited ${c}`)));
    readline.createInterface({ input: child.stdout! }).on("line", (l) => {
      const m = /running at (https?:\/\/\S+) /.exec(l);
      if (m) resolve(m[1]);
    });
  }).catch((err) => {
    child.kill("SIGKILL");
    throw err;
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  return { url, pid: child.pid!, stop };
}

export async function benchSfu(): Promise<Array<[string, string, string]>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-bench-sfu-"));
  const file = path.join(dir, "clock-720p.webm");
  const enc = spawnSync(
    "ffmpeg",
    buildSyntheticFileArgs({ width: 1280, height: 720, fps: 30, seconds: 20, videoBitrateKbps: 1500, out: file }),
  );
  if (enc.status !== 0) throw new Error(`could not encode the bench source: ${enc.stderr}`);
  const server = await startServer(path.join(dir, "data"));
  const { identity } = loadIdentity(path.join(dir, "data"));
  const mgmt = await mintManagementToken(identity);
  const api = async (p: string, body: unknown) =>
    (
      await fetch(server.url + p, {
        method: "POST",
        headers: { authorization: `Bearer ${mgmt}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      })
    ).json();
  const t = await api("/v2/templates", {
    name: "bench",
    roles: {
      pub: { subscribeParams: { subscribeToRoles: [] } },
      view: { publishParams: { allowed: [] }, subscribeParams: { subscribeToRoles: ["pub"] } },
    },
  });
  const room = await api("/v2/rooms", { name: "bench", template_id: t.id });
  const token = (role: string) => mintAppToken(identity, { roomId: room.id, role });
  const peers: SyntheticParticipant[] = [];
  const PUBLISHERS = 4;
  const VIEWERS = 2;
  const idle: number[] = [];
  const pubs: number[] = [];
  const fwd: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) idle.push(await measureCores(server.pid, WINDOW_MS / 2));
    for (let i = 0; i < PUBLISHERS; i++)
      peers.push(await joinSynthetic({ baseUrl: server.url, token: await token("pub"), name: `pub-${i}`, mediaFile: file }));
    for (const p of peers) void p.done.then((why) => why !== "left" && console.error(`bench participant ended early: ${why}`));
    await new Promise((r) => setTimeout(r, WARMUP_MS));
    for (let i = 0; i < RUNS; i++) pubs.push(await measureCores(server.pid, WINDOW_MS));
    const viewers: SyntheticParticipant[] = [];
    for (let i = 0; i < VIEWERS; i++)
      viewers.push(await joinSynthetic({ baseUrl: server.url, token: await token("view"), name: `view-${i}`, viewOnly: true }));
    peers.push(...viewers);
    await new Promise((r) => setTimeout(r, WARMUP_MS));
    const before = viewers.map((v) => [...v.received.values()].reduce((n, c) => n + c.video, 0));
    for (let i = 0; i < RUNS; i++) fwd.push(await measureCores(server.pid, WINDOW_MS));
    const after = viewers.map((v) => [...v.received.values()].reduce((n, c) => n + c.video, 0));
    const rate = (after[0] - before[0]) / ((RUNS * WINDOW_MS) / 1000) / PUBLISHERS;
    const mIdle = median(idle);
    const perPub = (median(pubs) - mIdle) / PUBLISHERS;
    const perFwd = (median(fwd) - median(pubs)) / (PUBLISHERS * VIEWERS);
    return [
      ["SFU idle (baseline)", `${(mIdle * 100).toFixed(1)} % of a core`, `median of ${RUNS}`],
      [
        "SFU CPU per 720p publisher (1.5 Mbps VP8 + Opus)",
        `${(perPub * 100).toFixed(2)} % of a core`,
        `${PUBLISHERS} publishers, minus baseline`,
      ],
      [
        "SFU CPU per forwarded stream (video+audio to 1 viewer)",
        `${(perFwd * 100).toFixed(2)} % of a core`,
        `${PUBLISHERS}x${VIEWERS} streams, minus publishers-only`,
      ],
      ["video packets/s per stream at a viewer", rate.toFixed(0), "forwarding keeps up when ≈ source rate"],
      [
        "720p publishers per shard at the 0.85-core limit, 1:1 forwarding",
        `≈ ${Math.floor((0.85 - mIdle) / (perPub + perFwd))}`,
        "extrapolated from the two costs above, not ramped: on 2 cores the test clients cost as much as the SFU",
      ],
    ];
  } finally {
    for (const p of peers) await p.leave();
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
