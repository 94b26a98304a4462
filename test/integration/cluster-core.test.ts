import assert from "node:assert/strict";
import { after, before, beforeEach, describe, test } from "node:test";
import { clusterSettingsProblem } from "../../src/cluster/cluster.ts";
import { holdLease } from "../../src/cluster/leases.ts";
import { NodeRegistry } from "../../src/cluster/node-registry.ts";
import { setDraining, workLeft } from "../../src/cluster/nodes.ts";
import { Placement } from "../../src/cluster/placement.ts";
import { loadConfig } from "../../src/config/config.ts";
import { asNode, setLocalNode } from "../../src/config/local-node.ts";
import type { OpenedDatabase } from "../../src/db/database.ts";
import type { NodeRow, NodeState } from "../../src/db/schema.ts";
import { newObjectId, nowIso } from "../../src/ids.ts";
import { enqueueJob, JobRunner } from "../../src/jobs/job-queue.ts";
import { createLogger } from "../../src/log.ts";
import { openTestDatabase } from "../support/db.ts";
import { startTestApp } from "../support/app.ts";

// The cluster's coordination on a real PostgreSQL: which settings may run a cluster, leases that only
// one node holds, rooms placed by load and liveness, dead nodes declared once, a fenced node, and jobs
// claimed by the right node exactly once.

const log = createLogger("silent");
const DEAD_MS = 4_000;

describe("which settings can run a cluster node", () => {
  const base = loadConfig({ TAPEDECK_DATA_DIR: "/tmp/x" });
  test("SQLite, a local bucket or an unknown port are refused, saying what to set", () => {
    assert.match(clusterSettingsProblem(base) ?? "", /needs DATABASE_URL=postgres/);
    const pg = { ...base, databaseUrl: "postgres://db/tapedeck" };
    assert.match(clusterSettingsProblem(pg) ?? "", /needs TAPEDECK_BUCKET=s3:\/\//);
    const bucket = { type: "s3" as const, location: "recordings", prefix: "", options: {} };
    assert.match(clusterSettingsProblem({ ...pg, bucket, port: 0 }) ?? "", /PORT=0 needs TAPEDECK_NODE_URL/);
    assert.equal(clusterSettingsProblem({ ...pg, bucket }), null);
  });
  test("a dead time shorter than three heartbeats is refused at load", () => {
    assert.throws(
      () => loadConfig({ TAPEDECK_HEARTBEAT_SECONDS: "5", TAPEDECK_NODE_DEAD_SECONDS: "10" }),
      /TAPEDECK_NODE_DEAD_SECONDS.*at least three heartbeats/s,
    );
  });
});

describe("cluster coordination (PostgreSQL)", () => {
  let opened: OpenedDatabase;
  const db = () => opened.db;

  const putNode = async (id: string, o: { roles?: string; state?: NodeState; ageMs?: number; peers?: number; cpu?: number } = {}) => {
    const at = new Date(Date.now() - (o.ageMs ?? 0)).toISOString();
    const row = {
      url: `http://${id}.invalid`,
      roles: o.roles ?? "api,sfu,worker",
      state: o.state ?? "active",
      pid: 1,
      version: "test",
      load: JSON.stringify({ cpu: o.cpu ?? 0.1, cores: 2, rooms: 0, peers: o.peers ?? 0, recordings: 0 }),
      started_at: at,
      heartbeat_at: at,
    };
    await db()
      .insertInto("nodes")
      .values({ id, ...row })
      .onConflict((oc) => oc.column("id").doUpdateSet(row))
      .execute();
  };

  before(async () => {
    opened = await openTestDatabase("postgres");
  });
  after(async () => {
    setLocalNode(null);
    await opened.close();
  });
  beforeEach(async () => {
    for (const t of ["nodes", "room_placements", "cluster_leases", "jobs", "sessions"] as const) await db().deleteFrom(t).execute();
  });

  test("a lease has one holder at a time; it renews its own and is taken only once expired", async () => {
    const wins = await Promise.all(["a", "b", "c", "d"].map((n) => holdLease(db(), "reaper", n, 60_000)));
    assert.equal(wins.filter(Boolean).length, 1, "exactly one of four racing nodes holds it");
    const holder = ["a", "b", "c", "d"][wins.indexOf(true)];
    assert.equal(await holdLease(db(), "reaper", holder, 60_000), true, "the holder renews");
    const other = holder === "a" ? "b" : "a";
    assert.equal(await holdLease(db(), "reaper", other, 60_000), false);
    await db()
      .updateTable("cluster_leases")
      .set({ expires_at: new Date(Date.now() - 1).toISOString() })
      .execute();
    assert.equal(await holdLease(db(), "reaper", other, 60_000), true, "an expired lease is taken over");
  });

  test("a room goes to the least loaded live SFU node and stays there; draining, dead, excluded and busy nodes are passed over", async () => {
    const placement = new Placement(db(), DEAD_MS, 0.9);
    await putNode("busy", { peers: 9 });
    await putNode("quiet", { peers: 1 });
    await putNode("api-only", { roles: "api", peers: 0 });
    const room = newObjectId();
    assert.equal((await placement.place(room)).id, "quiet");
    await putNode("quiet", { peers: 50 });
    assert.equal((await placement.place(room)).id, "quiet", "a placed room stays while its node lives");
    assert.equal((await placement.locate(room))?.id, "quiet");

    // Draining: the room stays while its session is open, moves once it closed.
    await setDraining(db(), "quiet", true);
    await db()
      .insertInto("sessions")
      .values({
        id: newObjectId(),
        room_id: room,
        customer_id: "c",
        app_id: "a",
        active: 1,
        created_at: nowIso(),
        updated_at: nowIso(),
        ended_at: null,
      })
      .execute();
    assert.equal((await placement.place(room)).id, "quiet", "an open session stays on its draining node");
    await db().updateTable("sessions").set({ active: 0 }).execute();
    assert.equal((await placement.place(room)).id, "busy", "the next session goes elsewhere");

    // Dead (silent for longer than the dead time): not located, and a join moves it.
    await putNode("busy", { peers: 9, ageMs: DEAD_MS + 1000 });
    assert.equal(await placement.locate(room), null);
    await setDraining(db(), "quiet", false);
    assert.equal((await placement.place(room)).id, "quiet");
    await assert.rejects(placement.place(room, ["quiet"]), /no SFU node/, "excluding the only live node leaves none");
  });

  test("no SFU node that can take a room: 503 saying why", async () => {
    const placement = new Placement(db(), DEAD_MS, 0.9);
    await putNode("hot", { cpu: 0.95 });
    await putNode("gone", { ageMs: DEAD_MS * 3 });
    await putNode("web", { roles: "api" });
    await assert.rejects(placement.place(newObjectId()), (err: Error & { status?: number }) => {
      assert.equal(err.status, 503);
      assert.match(err.message, /no SFU node can take this room now/);
      return true;
    });
  });

  test("a silent node is declared dead once, by one reaper, and its work handed over; a node declared dead stops", async () => {
    await putNode("dead-one", { ageMs: DEAD_MS + 2000 });
    const handed: string[] = [];
    const fenced: string[] = [];
    const registry = (id: string) =>
      new NodeRegistry({
        db: db(),
        log,
        config: {
          roles: new Set(["api", "sfu", "worker"]),
          cluster: { enabled: true, nodeId: id, nodeUrl: null, heartbeatMs: 1000, deadAfterMs: DEAD_MS, cpuLimit: 1 },
        },
        id,
        url: `http://${id}.invalid`,
        onNodeDead: async (n: NodeRow) => void handed.push(`${id} took ${n.id}`),
        onFenced: (why) => fenced.push(`${id}: ${why}`),
      });
    const r1 = registry("r1");
    const r2 = registry("r2");
    await r1.register();
    await r2.register();
    await Promise.all([r1.reap(), r2.reap(), r1.reap()]);
    assert.equal(handed.length, 1, `handed over once: ${handed.join("; ")}`);
    const row = await db().selectFrom("nodes").selectAll().where("id", "=", "dead-one").executeTakeFirstOrThrow();
    assert.equal(row.state, "dead");

    await db().updateTable("nodes").set({ state: "dead" }).where("id", "=", "r2").execute();
    await r2.beat();
    assert.match(fenced.join(""), /r2: the cluster declared this node dead/);
    await r1.beat();
    assert.deepEqual(fenced.length, 1, "a live node is not fenced");
    await r1.stop();
    await r2.stop();
  });

  test("jobs are claimed by their node, taken over from a dead node, never by another live node's worker, and run once", async () => {
    await putNode("alive-a");
    await putNode("b");
    await putNode("gone", { state: "dead" });
    const payload = () => ({ recordingId: newObjectId() });
    const queued = async (node: string | null, n: number) => {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const p = payload();
        ids.push(p.recordingId);
        const enqueue = () => enqueueJob(db(), { type: "beam-finish", key: `beam-finish:${p.recordingId}`, payload: p });
        if (node) await asNode(node, enqueue);
        else await enqueue();
      }
      return ids;
    };
    const ofA = await queued("alive-a", 3);
    const ofB = await queued("b", 20);
    const ofDead = await queued("gone", 20);
    const unpinned = await queued(null, 2);
    const runs = new Map<string, string[]>();
    const runner = (id: string, claims: "all" | "own") =>
      new JobRunner({
        db: db(),
        dialect: "postgres",
        log,
        node: { id, claims },
        concurrency: 4,
        handlers: {
          "beam-finish": {
            run: async (p) => {
              runs.set(p.recordingId, [...(runs.get(p.recordingId) ?? []), id]);
            },
          },
        },
      });
    // Two workers of node b race for what b may take (SKIP LOCKED); a sfu-only node runs only its own.
    await Promise.all([runner("b", "all").runOnce(), runner("b", "all").runOnce(), runner("alive-a-sfu", "own").runOnce()]);
    for (const id of [...ofB, ...ofDead, ...unpinned]) assert.deepEqual(runs.get(id), ["b"], `job ${id} ran once, on b`);
    for (const id of ofA) assert.equal(runs.get(id), undefined, "a live node's pinned job waits for it");
    await runner("alive-a", "own").runOnce();
    for (const id of ofA) assert.deepEqual(runs.get(id), ["alive-a"]);
    const left = await workLeft(db(), "alive-a");
    assert.equal(left.jobs, 0);
  });
});

describe("GET /v2/nodes and drain through the API", () => {
  test("outside a cluster the list is empty; an unknown node is a 404 naming the known ones; drain and resume answer the node with its work left", async () => {
    const app = await startTestApp({ dialect: "postgres" });
    try {
      const list = await app.api<{ cluster: boolean; this_node: string | null; nodes: unknown[] }>("GET", "/v2/nodes");
      assert.equal(list.status, 200);
      assert.deepEqual(
        { cluster: list.body.cluster, this_node: list.body.this_node, nodes: list.body.nodes },
        { cluster: false, this_node: null, nodes: [] },
      );
      const t = nowIso();
      await app.ctx.db
        .insertInto("nodes")
        .values({
          id: "n1",
          url: "http://n1.invalid",
          roles: "sfu,worker",
          state: "active",
          pid: 1,
          version: "t",
          load: "{}",
          started_at: t,
          heartbeat_at: t,
        })
        .execute();
      const missing = await app.api<{ message: string; details: string[] }>("POST", "/v2/nodes/n9/drain");
      assert.equal(missing.status, 404);
      assert.match(missing.body.message, /no node n9/);
      assert.match(missing.body.details.join(" "), /nodes: n1/);
      const drained = await app.api<{ state: string; work_left: { peers: number; recordings: number; jobs: number } }>(
        "POST",
        "/v2/nodes/n1/drain",
      );
      assert.equal(drained.status, 200);
      assert.equal(drained.body.state, "draining");
      assert.deepEqual(drained.body.work_left, { peers: 0, recordings: 0, jobs: 0 });
      const resumed = await app.api<{ state: string }>("POST", "/v2/nodes/n1/resume");
      assert.equal(resumed.body.state, "active");
      const bad = await app.api<{ message: string }>("GET", "/v2/nodes/..%2Fetc");
      assert.equal(bad.status, 400);
    } finally {
      await app.close();
    }
  });
});
