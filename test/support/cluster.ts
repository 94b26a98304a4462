import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { mintManagementToken } from "../../src/auth/tokens.ts";
import { type AppIdentity, loadIdentity } from "../../src/config/identity.ts";
import { type Db, openDatabase } from "../../src/db/database.ts";
import type { Config } from "../../src/config/config.ts";
import { freshDatabaseUrl } from "./db.ts";
import { startS3rver, type TestS3 } from "./s3rver.ts";

// A tapedeck cluster on this machine for tests: N `tapedeck serve` processes, each with its own data
// directory and port, on one fresh PostgreSQL database and one s3rver bucket, sharing one identity (as
// an operator copies identity.json to every node). Heartbeats are fast (1 s, dead after 4 s) so a
// killed node is taken over within seconds.

const BIN = path.resolve("bin/tapedeck.js");
/**
 * The shell around each node: runs it, kills the whole group once this process's pipe on its stdin
 * closes, and exits with the node's status. A SIGTERM to the group (stop()) interrupts only the wait:
 * the shell stays until the node has shut down.
 */
const SUPERVISE = [
  "trap : TERM INT",
  // An asynchronous command's stdin is /dev/null unless redirected: the pipe goes to the watcher as fd 3.
  "exec 3<&0",
  '"$0" "$@" </dev/null 3<&- & node=$!',
  "{ read _ <&3; kill -KILL 0; } &",
  'while :; do wait "$node"; s=$?; kill -0 "$node" 2>/dev/null || exit "$s"; done',
].join("\n");

export interface NodeSpec {
  id: string;
  /** TAPEDECK_ROLES (default api,sfu,worker). */
  roles?: string;
  env?: Record<string, string>;
}

export interface TestNode {
  id: string;
  roles: string;
  url: string;
  port: number;
  dataDir: string;
  proc: ChildProcess;
  /** Every line the node printed (pino JSON and plain), in order. */
  lines: string[];
  /** Resolves with the exit code / signal once the process ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits for a log line matching `pattern` (already printed or to come). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

export interface TestCluster {
  nodes: TestNode[];
  node(id: string): TestNode;
  s3: TestS3;
  databaseUrl: string;
  identity: AppIdentity;
  /** A management token for the REST API of any node. */
  managementToken(): Promise<string>;
  /** `fetch` against a node's API with the management token. */
  api<T = unknown>(node: TestNode, method: string, p: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** The cluster's database, as the nodes see it (opened after the first node brought the schema up). */
  db: Db;
  /** Runs `tapedeck <args>` (e.g. `node drain b --wait`) against the cluster's database; its output by line. */
  cli(args: string[]): { proc: ChildProcess; lines: string[]; exited: Promise<number | null> };
  /** The node a room is placed on (its SFU node), from the shared database. */
  placedOn(roomId: string): Promise<string | null>;
  /** The node that claimed a browser recording or live stream (its `worker`), from the shared database. */
  workerOf(recordingId: string): Promise<string | null>;
  /** Starts one more node on the same database and bucket. */
  add(spec: NodeSpec): Promise<TestNode>;
  /** SIGTERM every node still running (SIGKILL after 15 s), then the bucket. */
  stop(): Promise<void>;
}

/** Calls `fn` with each whole line of `stream` (a line cut across two chunks is joined first). */
function byLine(stream: NodeJS.ReadableStream, fn: (line: string) => void): void {
  let rest = "";
  stream.setEncoding("utf8"); // a character cut across two chunks is joined too
  stream.on("data", (chunk: string) => {
    const parts = (rest + chunk).split("\n");
    rest = parts.pop() ?? "";
    for (const p of parts) fn(p);
  });
  stream.on("end", () => rest && fn(rest));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function startCluster(specs: NodeSpec[], common: Record<string, string> = {}): Promise<TestCluster> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-cluster-"));
  const s3 = await startS3rver();
  const databaseUrl = await freshDatabaseUrl("postgres");
  // One identity for every node: generated once, copied into each data directory.
  const seedDir = path.join(root, "seed");
  const { identity } = loadIdentity(seedDir, {});
  const nodes: TestNode[] = [];

  const procs: ChildProcess[] = [];
  const killAll = () => {
    for (const proc of procs)
      try {
        if (proc.exitCode === null && proc.signalCode === null) process.kill(-proc.pid!, "SIGKILL");
      } catch {
        /* gone */
      }
  };
  process.once("exit", killAll);

  const start = async (spec: NodeSpec): Promise<TestNode> => {
    const port = await freePort();
    const dataDir = path.join(root, spec.id);
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    fs.copyFileSync(path.join(seedDir, "identity.json"), path.join(dataDir, "identity.json"));
    const url = `http://127.0.0.1:${port}`;
    // Links (and the recorder page a worker's Chromium opens) go to the public URL: a load balancer in
    // production; here the node itself, or for a node without the api role, the first node that has it.
    const roles = spec.roles ?? "api,sfu,worker";
    const apiNode = nodes.find((n) => n.roles.includes("api"));
    const publicUrl = roles.includes("api") || !apiNode ? url : apiNode.url;
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      CHROMIUM_PATH: process.env.CHROMIUM_PATH,
      PORT: String(port),
      HOST: "127.0.0.1",
      TAPEDECK_DATA_DIR: dataDir,
      TAPEDECK_PUBLIC_URL: publicUrl,
      DATABASE_URL: databaseUrl,
      TAPEDECK_CLUSTER: "on",
      TAPEDECK_NODE_ID: spec.id,
      TAPEDECK_NODE_URL: url,
      TAPEDECK_ROLES: roles,
      TAPEDECK_BUCKET: `s3://${s3.bucket}/cluster`,
      TAPEDECK_BUCKET_ENDPOINT: s3.endpoint,
      TAPEDECK_BUCKET_ACCESS_KEY: s3.accessKey,
      TAPEDECK_BUCKET_SECRET_KEY: s3.secret,
      TAPEDECK_HEARTBEAT_SECONDS: "1",
      TAPEDECK_NODE_DEAD_SECONDS: "4",
      TAPEDECK_SFU_PROCESSES: "0",
      TAPEDECK_SFU_CPU_LIMIT: "off",
      // The test machine is busy with the tests' own browsers: placement must not refuse rooms for it.
      TAPEDECK_NODE_CPU_LIMIT: "off",
      // The tests' own endpoints (webhook receivers, s3rver) are on this machine.
      TAPEDECK_OUTBOUND_ALLOW: "127.0.0.0/8",
      LOG_LEVEL: "info",
      ...common,
      ...spec.env,
    };
    for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
    // The node runs in a process group of its own, led by a shell that holds a pipe from this process:
    // when this process ends in any way (even SIGKILLed by the test runner), the pipe closes and the
    // shell kills the group, so no node outlives its test.
    const proc = spawn("/bin/sh", ["-c", SUPERVISE, process.execPath, BIN, "serve"], {
      env,
      stdio: ["pipe", "pipe", "pipe"],
      detached: true,
    });
    procs.push(proc);
    const lines: string[] = [];
    // TAPEDECK_CLUSTER_LOGS=<dir>: every node's output also goes to <dir>/<id>.log as it comes, to read
    // after a failure (even one the test runner cut short).
    const logDir = process.env.TAPEDECK_CLUSTER_LOGS;
    if (logDir) fs.mkdirSync(logDir, { recursive: true });
    const logFile = logDir ? fs.createWriteStream(path.join(logDir, `${spec.id}.log`), { flags: "a" }) : null;
    const waiters: Array<{ pattern: RegExp; resolve: (l: string) => void }> = [];
    const onLine = (line: string) => {
      if (!line) return;
      lines.push(line);
      logFile?.write(`${line}\n`);
      for (const w of [...waiters])
        if (w.pattern.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
    };
    byLine(proc.stdout!, onLine);
    byLine(proc.stderr!, onLine);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      proc.on("exit", (code, signal) => resolve({ code, signal })),
    );
    const waitForLine = (pattern: RegExp, timeoutMs = 30_000) => {
      const seen = lines.find((l) => pattern.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(
            new Error(`node ${spec.id}: no line matching ${pattern} within ${timeoutMs} ms; last lines:\n${lines.slice(-15).join("\n")}`),
          );
        }, timeoutMs);
        const w = {
          pattern,
          resolve: (l: string) => {
            clearTimeout(timer);
            resolve(l);
          },
        };
        waiters.push(w);
      });
    };
    const node: TestNode = { id: spec.id, roles, url, port, dataDir, proc, lines, exited, waitForLine };
    const ready = waitForLine(/tapedeck is running at/, 60_000);
    const died = exited.then(({ code, signal }) => {
      throw new Error(`node ${spec.id} exited (${code ?? signal}) while starting:\n${lines.slice(-20).join("\n")}`);
    });
    await Promise.race([ready, died]);
    died.catch(() => {}); // later exits are the test's business
    nodes.push(node);
    return node;
  };

  // The first node brings the database schema up; the others then start side by side (each takes
  // seconds to boot on a busy machine). A node without the api role links to the first that has one.
  const [first, ...rest] = specs;
  if (first) await start(first);
  await Promise.all(rest.map(start));
  nodes.sort((x, y) => specs.findIndex((s) => s.id === x.id) - specs.findIndex((s) => s.id === y.id));
  const opened = await openDatabase(databaseUrl);

  const cluster: TestCluster = {
    nodes,
    node: (id) => {
      const n = nodes.find((x) => x.id === id);
      if (!n) throw new Error(`no node ${id}`);
      return n;
    },
    s3,
    databaseUrl,
    identity,
    managementToken: () => mintManagementToken(identity),
    async api<T>(node: TestNode, method: string, p: string, body?: unknown) {
      const res = await fetch(`${node.url}${p}`, {
        method,
        headers: {
          authorization: `Bearer ${await mintManagementToken(identity)}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
    },
    db: opened.db,
    async placedOn(roomId) {
      const row = await opened.db.selectFrom("room_placements").select("node_id").where("room_id", "=", roomId).executeTakeFirst();
      return row?.node_id ?? null;
    },
    async workerOf(id) {
      const row = await opened.db.selectFrom("recordings").select("worker").where("id", "=", id).executeTakeFirst();
      return row?.worker ?? null;
    },
    cli(args) {
      const proc = spawn(process.execPath, [BIN, ...args], {
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          DATABASE_URL: databaseUrl,
          TAPEDECK_DATA_DIR: path.join(root, "cli"),
          LOG_LEVEL: "warn",
        },
        stdio: ["ignore", "pipe", "pipe"],
      });
      const lines: string[] = [];
      const onLine = (line: string) => line && lines.push(line);
      byLine(proc.stdout!, onLine);
      byLine(proc.stderr!, onLine);
      const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
      return { proc, lines, exited };
    },
    add: start,
    async stop() {
      await Promise.all(
        nodes.map(async (n) => {
          if (n.proc.exitCode !== null || n.proc.signalCode !== null) return;
          try {
            process.kill(-n.proc.pid!, "SIGTERM");
          } catch {
            return;
          }
          const timer = setTimeout(() => {
            try {
              process.kill(-n.proc.pid!, "SIGKILL");
            } catch {
              /* gone */
            }
          }, 15_000);
          await n.exited;
          clearTimeout(timer);
        }),
      );
      process.off("exit", killAll);
      await opened.close();
      await s3.stop();
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
  return cluster;
}

/**
 * The settings of an in-process cluster node (startTestApp's `config`), for integration tests that run
 * two nodes in the test process on one database: the s3rver bucket under `prefix`, fast heartbeats, no
 * CPU limit. The node URL is a placeholder; a test that needs it reachable sets the `nodes` row itself.
 */
export function inProcessNode(nodeId: string, s3: TestS3, prefix: string): Partial<Config> {
  return {
    cluster: {
      enabled: true,
      nodeId,
      nodeUrl: `http://${nodeId}.invalid`,
      heartbeatMs: 1000,
      deadAfterMs: 4000,
      cpuLimit: Number.POSITIVE_INFINITY,
    },
    bucket: {
      type: "s3",
      location: s3.bucket,
      prefix,
      options: { endpoint: s3.endpoint },
      credentials: { key: s3.accessKey, secret: s3.secret },
    },
  };
}
