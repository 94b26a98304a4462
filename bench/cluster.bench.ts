import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { type Db, openDatabase, type OpenedDatabase } from "../src/db/database.ts";
import { newObjectId, nowIso } from "../src/ids.ts";
import { enqueueJob, JobRunner } from "../src/jobs/job-queue.ts";
import { createLogger } from "../src/log.ts";
import { startCluster, type TestCluster, type TestNode } from "../test/support/cluster.ts";
import { freshDatabaseUrl } from "../test/support/db.ts";
import { cpuSeconds, median, processTree } from "./proc.ts";

// Scale-out (TAPEDECK_CLUSTER=on): 1 node against 3 nodes on one PostgreSQL and one bucket, each
// figure beside its baseline measured in the same run, on this machine (every node, PostgreSQL, s3rver
// and the bench's own clients share its cores: more nodes add no CPU here, only more processes).
//   - API throughput: CLIENTS concurrent clients for BENCH_CLUSTER_SECONDS (default 8) each, sending
//     GET /v2/rooms?limit=10, GET /v2/rooms?limit=10, POST /v2/rooms, GET /v2/rooms/:id (a room made
//     earlier, usually through another node) in turn, round-robin over the nodes; requests/s (median
//     of 3 runs after a warm-up) and latency p50/p95 over all three runs; the CPU the nodes, PostgreSQL
//     and the clients used, and requests per CPU-second of the nodes. Baseline: the same sent to node a
//     alone, runs interleaved 1, 3, 1, 3… (b and c run meanwhile, idle but for their heartbeat).
//   - job claims: JOBS cheap jobs queued one after the other (enqueueJob), each kicking the queuing
//     node's runner as tapedeck does; from the enqueue call to the handler's start, with 1 and 3 runners
//     (in this process, each with its own pool, as nodes have) competing on one PostgreSQL database
//     (SELECT … FOR UPDATE SKIP LOCKED), 3 rounds pooled; every job must run exactly once. Baseline:
//     SQLite's conditional UPDATE with 1 runner (a single-node install).
//   - takeover: a 3-node cluster; the holder of the `reaper` lease is SIGKILLed (its process group)
//     and a pending job pinned to it is queued at once; from the kill to the node shown `dead` in
//     GET /v2/nodes, to the lease held by a survivor, and to the job claimed by a survivor. Median of 3
//     kills (a fresh node joins between kills). Baseline: what the settings promise: the node's last
//     beat was 0–1 heartbeat before the kill and the reaper notices it within a heartbeat after it is
//     dead-after old, so dead-after ± 1 heartbeat (the harness's 1 s / 4 s: 3–5 s; defaults 2 s / 10 s: 8–12 s).
// BENCH_CLUSTER_PARTS=claims or =cluster runs one half (the job claims; the API and takeover figures).

const SECONDS = Number(process.env.BENCH_CLUSTER_SECONDS ?? 8);
const CLIENTS = 32;
const RUNS = 3;
const JOBS = 300;
const KILLS = 3;
const HEARTBEAT_S = 1;
const DEAD_S = 4;

const began = performance.now();
const say = (line: string) => console.error(`[bench cluster +${((performance.now() - began) / 1000).toFixed(0)} s] ${line}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const ms = (x: number) => (x >= 100 ? `${Math.round(x)} ms` : `${x.toFixed(1)} ms`);
const sec = (x: number) => `${(x / 1000).toFixed(2)} s`;

// ---------------------------------------------------------------------------------------------------
// API throughput

interface Answer {
  status: number;
  body: string;
}

interface LoadResult {
  rps: number;
  /** Seconds from the first request to the last answer. */
  elapsed: number;
  latencies: number[];
  errors: number;
  firstError?: string;
}

/** CLIENTS loops over `urls` round-robin for `seconds`; `rooms` grows with the rooms made. */
async function apiLoad(urls: string[], token: string, rooms: string[], seconds: number): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  const request = (method: string, url: string, body?: unknown) =>
    new Promise<Answer>((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = http.request(
        url,
        {
          method,
          agent,
          headers: { authorization: `Bearer ${token}`, ...(data ? { "content-type": "application/json" } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(data);
    });
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let n = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const client = async () => {
    while (performance.now() < end) {
      const i = n++;
      const base = urls[i % urls.length];
      const op = i % 4;
      const started = performance.now();
      let a: Answer;
      try {
        if (op === 2) a = await request("POST", `${base}/v2/rooms`, { name: `bench-${newObjectId()}`, description: "cluster bench" });
        else if (op === 3) a = await request("GET", `${base}/v2/rooms/${rooms[Math.floor(Math.random() * rooms.length)]}`);
        else a = await request("GET", `${base}/v2/rooms?limit=10`);
      } catch (err) {
        a = { status: 0, body: (err as Error).message };
      }
      latencies.push(performance.now() - started);
      if (a.status !== 200) {
        errors++;
        firstError ??= `${a.status} ${a.body.slice(0, 200)}`;
      } else if (op === 2) rooms.push(JSON.parse(a.body).id);
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, client));
  const elapsed = (performance.now() - t0) / 1000;
  agent.destroy();
  return { rps: latencies.length / elapsed, elapsed, latencies, errors, firstError };
}

/** Busy CPU seconds of the whole machine so far (all cores), from /proc/stat. */
function machineBusy(): number {
  const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + f[4]; // idle + iowait
  return (f.reduce((a, b) => a + b, 0) - idle) / 100; // USER_HZ
}

/** The PostgreSQL server (postmaster) listening on the port of TAPEDECK_TEST_PG_URL, if it runs on this machine. */
function postgresPid(): number | null {
  const port = new URL(process.env.TAPEDECK_TEST_PG_URL ?? "postgres://x").port;
  if (!port) return null;
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const args = fs.readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0");
      if (args[0].endsWith("/postgres") && args.includes("-p") && args[args.indexOf("-p") + 1] === port) return Number(d);
    } catch {
      /* gone */
    }
  }
  return null;
}

/** CPU seconds so far of each process under `roots` (PostgreSQL's backends come and go). */
function cpuSnapshot(roots: Array<number | null>): Map<number, number> {
  const m = new Map<number, number>();
  for (const root of roots) {
    if (root === null || !fs.existsSync(`/proc/${root}`)) continue;
    for (const p of processTree(root)) {
      try {
        m.set(p, cpuSeconds(p));
      } catch {
        /* ended meanwhile */
      }
    }
  }
  return m;
}

/** CPU seconds used between two snapshots by the processes of the later one. */
const cpuBetween = (a: Map<number, number>, b: Map<number, number>) => [...b].reduce((s, [p, t]) => s + t - (a.get(p) ?? 0), 0);

interface ApiFigures {
  rps: number;
  p50: number;
  p95: number;
  /** Cores used by all the nodes' processes together over the runs (median). */
  cores: number;
  /** Cores used by this bench process (the clients), PostgreSQL, and the whole machine (every process on it). */
  clientCores: number;
  pgCores: number;
  machineCores: number;
  /** Requests per CPU second of the nodes (median of the runs): what a request costs, whatever share of the machine they got. */
  perCoreSecond: number;
  errors: number;
  requests: number;
}

/**
 * RUNS measured runs on each of `sets` (after a warm-up on each), interleaved (1, 3, 1, 3…), so load from
 * elsewhere on this busy machine falls on both alike.
 */
async function apiFigures(c: TestCluster, sets: TestNode[][], token: string, rooms: string[]): Promise<ApiFigures[]> {
  const runs = sets.map(() => [] as Array<LoadResult & { cores: number; clientCores: number; pgCores: number; machineCores: number }>);
  const nodePids = () => c.nodes.filter(alive).map((n) => n.proc.pid!);
  const pg = postgresPid();
  for (const set of sets)
    await apiLoad(
      set.map((n) => n.url),
      token,
      rooms,
      2,
    );
  for (let r = 0; r < RUNS; r++) {
    for (const [i, set] of sets.entries()) {
      const [c0, client0, pg0, machine0] = [cpuSnapshot(nodePids()), process.cpuUsage(), cpuSnapshot([pg]), machineBusy()];
      const res = await apiLoad(
        set.map((n) => n.url),
        token,
        rooms,
        SECONDS,
      );
      const cores = cpuBetween(c0, cpuSnapshot(nodePids())) / res.elapsed;
      const used = process.cpuUsage(client0);
      const clientCores = (used.user + used.system) / 1e6 / res.elapsed;
      const pgCores = cpuBetween(pg0, cpuSnapshot([pg])) / res.elapsed;
      const machineCores = (machineBusy() - machine0) / res.elapsed;
      say(
        `${set.length} node(s), run ${r + 1}: ${Math.round(res.rps)} req/s, p95 ${ms(pct(res.latencies, 95))}, nodes' cores ${cores.toFixed(2)}, clients' ${clientCores.toFixed(2)}, PostgreSQL ${pgCores.toFixed(2)}, machine ${machineCores.toFixed(2)}, ${res.errors} errors`,
      );
      runs[i].push({ ...res, cores, clientCores, pgCores, machineCores });
    }
  }
  return runs.map((rs) => {
    const all = rs.flatMap((r) => r.latencies);
    const errors = rs.reduce((s, r) => s + r.errors, 0);
    if (errors) say(`${errors} requests failed, first: ${rs.find((r) => r.firstError)?.firstError}`);
    return {
      rps: median(rs.map((r) => r.rps)),
      p50: pct(all, 50),
      p95: pct(all, 95),
      cores: median(rs.map((r) => r.cores)),
      clientCores: median(rs.map((r) => r.clientCores)),
      pgCores: median(rs.map((r) => r.pgCores)),
      perCoreSecond: median(rs.map((r) => r.rps / r.cores)),
      machineCores: median(rs.map((r) => r.machineCores)),
      errors,
      requests: all.length,
    };
  });
}

// ---------------------------------------------------------------------------------------------------
// Job claims

interface ClaimResult {
  latencies: number[];
  /** Jobs that ran other than exactly once (by key), and rows not `done` after 1 attempt. */
  wrong: number;
  jobsPerS: number;
}

const trackPayload = (k: string) => ({
  file: `/nowhere/${k}.webm`,
  recordedTrackId: k,
  recordingId: "r",
  roomId: "room",
  sessionId: "s",
  sessionStartedAt: nowIso(),
  peerId: "p",
  streamId: "st",
  trackId: "t",
  trackType: "audio" as const,
  startedAt: nowIso(),
  endedAt: nowIso(),
});

/** JOBS jobs queued through `dbs[0]` (the queuing node), claimed by one runner per database handle. */
async function claimRound(opened: OpenedDatabase[], round: number, cluster: boolean): Promise<ClaimResult> {
  const log = createLogger("warn");
  const queuedAt = new Map<string, number>();
  const ranAt = new Map<string, number>();
  const runs = new Map<string, number>();
  let done: () => void = () => {};
  const allRan = new Promise<void>((r) => (done = r));
  const runners = opened.map(
    (o, i) =>
      new JobRunner({
        db: o.db,
        dialect: o.dialect,
        node: cluster ? { id: `bench-runner-${i}`, claims: "all" } : null,
        log,
        handlers: {
          "upload-track": {
            run: async (p) => {
              const k = p.recordedTrackId;
              if (!ranAt.has(k)) ranAt.set(k, performance.now());
              runs.set(k, (runs.get(k) ?? 0) + 1);
              if (ranAt.size === JOBS) done();
            },
          },
        },
      }),
  );
  const db: Db = opened[0].db;
  let t0 = 0;
  let last = 0;
  try {
    for (const r of runners) await r.start();
    t0 = performance.now();
    for (let i = 0; i < JOBS; i++) {
      const k = `bench-${round}-${i}`;
      queuedAt.set(k, performance.now());
      await enqueueJob(db, { type: "upload-track", key: k, payload: trackPayload(k) });
      runners[0].kick(); // tapedeck's "jobs.queued": the queuing node's runner; the others poll
    }
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`only ${ranAt.size} of ${JOBS} jobs ran within 60 s`)), 60_000);
    });
    await Promise.race([allRan, timeout]).finally(() => clearTimeout(timer));
    last = Math.max(...ranAt.values());
  } finally {
    await Promise.all(runners.map((r) => r.stop()));
  }
  const rows = await db.selectFrom("jobs").select(["key", "state", "attempts"]).where("key", "like", `bench-${round}-%`).execute();
  const badRows = rows.filter((r) => r.state !== "done" || r.attempts !== 1).length + (JOBS - rows.length);
  const badRuns = [...queuedAt.keys()].filter((k) => runs.get(k) !== 1).length;
  return {
    latencies: [...queuedAt].map(([k, t]) => ranAt.get(k)! - t),
    wrong: badRows + badRuns,
    jobsPerS: JOBS / ((last - t0) / 1000),
  };
}

async function claimFigures(): Promise<Array<[string, string, string]>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-bench-cluster-"));
  const sqlite = [await openDatabase(`sqlite:${path.join(dir, "tapedeck.db")}`)];
  const pgUrl = await freshDatabaseUrl("postgres");
  // One pool per runner, as each node has its own; opened one after the other (each migrates).
  const pgs: OpenedDatabase[] = [];
  for (let i = 0; i < 3; i++) pgs.push(await openDatabase(pgUrl));
  const configs = [
    { label: "SQLite, 1 runner", dbs: sqlite, cluster: false },
    { label: "PostgreSQL, 1 runner", dbs: pgs.slice(0, 1), cluster: true },
    { label: "PostgreSQL, 3 runners", dbs: pgs, cluster: true },
  ];
  const results = configs.map(() => ({ latencies: [] as number[], wrong: 0, rates: [] as number[] }));
  try {
    // Rounds interleaved, so a burst of load from elsewhere on the machine falls on every configuration alike.
    for (let round = 0; round < RUNS; round++) {
      for (const [i, c] of configs.entries()) {
        const r = await claimRound(c.dbs, round * configs.length + i, c.cluster);
        results[i].latencies.push(...r.latencies);
        results[i].wrong += r.wrong;
        results[i].rates.push(r.jobsPerS);
        say(
          `claims, ${c.label}, round ${round + 1}: p50 ${ms(pct(r.latencies, 50))}, ${Math.round(r.jobsPerS)} jobs/s, ${r.wrong} not run exactly once`,
        );
      }
    }
  } finally {
    for (const o of [...sqlite, ...pgs]) await o.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const [lite, one, three] = results;
  const total = JOBS * RUNS;
  const once = (r: (typeof results)[number]) => `${total - r.wrong}/${total} ran exactly once`;
  return [
    [
      "job claim latency p50, PG 1 → 3 runners",
      `${ms(pct(one.latencies, 50))} → ${ms(pct(three.latencies, 50))}`,
      `SQLite 1 runner ${ms(pct(lite.latencies, 50))} (enqueue → handler start, ${JOBS} queued back to back, ${RUNS} rounds)`,
    ],
    [
      "job claim latency p95, PG 1 → 3 runners",
      `${ms(pct(one.latencies, 95))} → ${ms(pct(three.latencies, 95))}`,
      `SQLite 1 runner ${ms(pct(lite.latencies, 95))}`,
    ],
    [
      "jobs run per second, PG 1 → 3 runners",
      `${Math.round(median(one.rates))} → ${Math.round(median(three.rates))}`,
      `SQLite 1 runner ${Math.round(median(lite.rates))} (first enqueue → last start, median of rounds)`,
    ],
    ["jobs run exactly once, PG 1 / 3 runners", `${total - one.wrong} / ${total - three.wrong}`, `of ${total} each; SQLite ${once(lite)}`],
  ];
}

// ---------------------------------------------------------------------------------------------------
// Takeover

interface NodesAnswer {
  nodes: Array<{ id: string; state: string }>;
  leases: Array<{ name: string; node_id: string }>;
}

const alive = (n: TestNode) => n.proc.exitCode === null && n.proc.signalCode === null;

async function reaperHolder(c: TestCluster, via: TestNode): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const { body } = await c.api<NodesAnswer>(via, "GET", "/v2/nodes");
    const holder = body.leases.find((l) => l.name === "reaper")?.node_id;
    if (holder && c.nodes.some((n) => n.id === holder && alive(n))) return holder;
    await sleep(100);
  }
  throw new Error("no live node holds the reaper lease within 10 s");
}

/** SIGKILLs the reaper's holder with a job pinned to it; ms from the kill to each step of the takeover. */
async function killOnce(c: TestCluster, k: number): Promise<{ dead: number; lease: number; job: number }> {
  const victim = c.node(await reaperHolder(c, c.nodes.find(alive)!));
  const survivor = c.nodes.find((n) => alive(n) && n !== victim)!;
  const t0 = performance.now();
  process.kill(-victim.proc.pid!, "SIGKILL");
  // Queued right after the kill (before it, the victim itself would claim it): a job the node had just
  // queued and never ran, which only it may run until it is declared dead.
  const jobId = newObjectId();
  const now = nowIso();
  await c.db
    .insertInto("jobs")
    .values({
      id: jobId,
      type: "hls-finish",
      key: `bench-takeover-${k}-${jobId}`,
      payload: JSON.stringify({ recordingId: newObjectId() }),
      state: "pending",
      attempts: 0,
      run_at: now,
      locked_until: null,
      last_error: null,
      created_at: now,
      updated_at: now,
      node_id: victim.id,
    })
    .execute();
  const at: { dead?: number; lease?: number; job?: number } = {};
  while (at.dead === undefined || at.lease === undefined || at.job === undefined) {
    if (performance.now() - t0 > 60_000) throw new Error(`takeover of ${victim.id} not complete within 60 s: ${JSON.stringify(at)}`);
    const [view, job] = await Promise.all([
      c.api<NodesAnswer>(survivor, "GET", "/v2/nodes"),
      c.db.selectFrom("jobs").select(["state", "attempts"]).where("id", "=", jobId).executeTakeFirstOrThrow(),
    ]);
    const t = performance.now() - t0;
    if (at.dead === undefined && view.body.nodes.find((n) => n.id === victim.id)?.state === "dead") at.dead = t;
    const holder = view.body.leases.find((l) => l.name === "reaper")?.node_id;
    if (at.lease === undefined && holder && holder !== victim.id) at.lease = t;
    if (at.job === undefined && (job.attempts > 0 || job.state !== "pending")) at.job = t;
    await sleep(50);
  }
  // The job has no recording behind it (it would retry): gone, so it does not outlive the bench.
  await c.db.deleteFrom("jobs").where("id", "=", jobId).execute();
  say(`kill ${k + 1} (${victim.id}): dead ${sec(at.dead)}, reaper lease ${sec(at.lease)}, pinned job claimed ${sec(at.job)}`);
  return at as { dead: number; lease: number; job: number };
}

// ---------------------------------------------------------------------------------------------------

async function clusterFigures(): Promise<Array<[string, string, string]>> {
  const c = await startCluster([{ id: "a" }], {
    TAPEDECK_HEARTBEAT_SECONDS: String(HEARTBEAT_S),
    TAPEDECK_NODE_DEAD_SECONDS: String(DEAD_S),
  });
  try {
    // The first node brought the schema up; the others start side by side.
    await Promise.all([c.add({ id: "b" }), c.add({ id: "c" })]);
    say("3 nodes up");
    const token = await c.managementToken();
    // Rooms for GET /v2/rooms/:id from the start.
    const rooms: string[] = [];
    for (let i = 0; i < 20; i++)
      rooms.push((await c.api<{ id: string }>(c.nodes[0], "POST", "/v2/rooms", { name: `bench-seed-${i}` })).body.id);
    // "1 node": every request to a; b and c run meanwhile, idle but for their heartbeat.
    const [one, three] = await apiFigures(c, [[c.node("a")], c.nodes.slice(0, 3)], token, rooms);

    const kills: Array<{ dead: number; lease: number; job: number }> = [];
    for (let k = 0; k < KILLS; k++) {
      kills.push(await killOnce(c, k));
      if (k === KILLS - 1) break;
      await c.add({ id: `n${k + 1}` }); // three nodes again for the next kill
      say(`node n${k + 1} up`);
    }
    const m = (f: "dead" | "lease" | "job") => median(kills.map((x) => x[f]));
    const range = (f: "dead" | "lease" | "job") =>
      `${sec(Math.min(...kills.map((x) => x[f])))}–${sec(Math.max(...kills.map((x) => x[f])))}`;
    const settings = `heartbeat ${HEARTBEAT_S} s, dead after ${DEAD_S} s`;
    return [
      [
        "API requests/s, 1 → 3 nodes",
        `${Math.round(one.rps)} → ${Math.round(three.rps)}`,
        `${CLIENTS} clients, ${SECONDS} s, median of ${RUNS}; GET list ×2, POST room, GET room; ${one.errors + three.errors} errors of ${one.requests + three.requests}`,
      ],
      ["API latency p50, 1 → 3 nodes", `${ms(one.p50)} → ${ms(three.p50)}`, "all requests of the 3 runs"],
      ["API latency p95, 1 → 3 nodes", `${ms(one.p95)} → ${ms(three.p95)}`, "all requests of the 3 runs"],
      [
        "API nodes' CPU, 1 → 3 nodes",
        `${one.cores.toFixed(2)} → ${three.cores.toFixed(2)} cores`,
        `all nodes' processes (median of ${RUNS}); meanwhile the clients ${one.clientCores.toFixed(2)} → ${three.clientCores.toFixed(2)}, PostgreSQL ${one.pgCores.toFixed(2)} → ${three.pgCores.toFixed(2)}, the whole machine ${one.machineCores.toFixed(2)} → ${three.machineCores.toFixed(2)} of ${os.cpus().length}`,
      ],
      [
        "API requests per node CPU-second, 1 → 3 nodes",
        `${Math.round(one.perCoreSecond)} → ${Math.round(three.perCoreSecond)}`,
        "requests/s ÷ the nodes' cores, median of runs: a request's cost on the nodes (PostgreSQL apart)",
      ],
      [
        "SIGKILL → node shown dead",
        sec(m("dead")),
        `median of ${KILLS} (${range("dead")}); ${settings}: expected ${DEAD_S - HEARTBEAT_S}–${DEAD_S + HEARTBEAT_S} s; defaults 2 s / 10 s: 8–12 s`,
      ],
      [
        "SIGKILL → reaper lease on a survivor",
        sec(m("lease")),
        `median of ${KILLS} (${range("lease")}); its TTL is the dead-after time, renewed each beat`,
      ],
      [
        "SIGKILL → pinned job claimed by a survivor",
        sec(m("job")),
        `median of ${KILLS} (${range("job")}); claimable once its node is dead`,
      ],
    ];
  } finally {
    await c.stop();
  }
}

export async function benchCluster(): Promise<Array<[string, string, string]>> {
  // A throwaway PostgreSQL when none is given (the tests' own, scripts/postgres.mjs); a path in a
  // variable, since that script is plain JavaScript without types.
  let pg: { url: string; stop(): Promise<void> } | null = null;
  if (!process.env.TAPEDECK_TEST_PG_URL) {
    const script = new URL("../scripts/postgres.mjs", import.meta.url).href;
    const { startPostgres } = (await import(script)) as { startPostgres(): Promise<{ url: string; stop(): Promise<void> }> };
    pg = await startPostgres();
    process.env.TAPEDECK_TEST_PG_URL = pg.url;
  }
  try {
    const parts = (process.env.BENCH_CLUSTER_PARTS ?? "claims,cluster").split(",");
    const claims = parts.includes("claims") ? await claimFigures() : [];
    const cluster = parts.includes("cluster") ? await clusterFigures() : [];
    return [...cluster.slice(0, 5), ...claims, ...cluster.slice(5)];
  } finally {
    if (pg) {
      await pg.stop();
      delete process.env.TAPEDECK_TEST_PG_URL;
    }
  }
}
