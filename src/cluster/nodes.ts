import { sql } from "kysely";
import type { Db } from "../db/database.ts";
import type { NodeRow, NodeState } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { currentLeases } from "./leases.ts";
import { isFresh, nodeLoad, nodeRoles, type NodeLoad } from "./node-registry.ts";

// The cluster's nodes as an operator sees them (`tapedeck node list`, GET /v2/nodes), and draining:
// `tapedeck node drain <id>` marks a node `draining` (it takes no new rooms or recordings; its running
// rooms, recordings and jobs go on), and its work left says when it can be stopped.

export interface NodeView {
  id: string;
  url: string;
  roles: string[];
  /** `active`, `draining`, `dead`; `unresponsive` when its heartbeat is late but it is not declared dead yet. */
  state: NodeState | "unresponsive";
  pid: number;
  version: string;
  started_at: string;
  heartbeat_at: string;
  /** Seconds since its last heartbeat. */
  heartbeat_age_s: number;
  load: NodeLoad;
}

/** What a node still has to finish before it can be stopped. */
export interface WorkLeft {
  peers: number;
  recordings: number;
  jobs: number;
}

export function viewNode(n: NodeRow, deadAfterMs: number, now = Date.now()): NodeView {
  const late = n.state !== "dead" && !isFresh(n, deadAfterMs / 2, now);
  return {
    id: n.id,
    url: n.url,
    roles: nodeRoles(n),
    state: late ? "unresponsive" : n.state,
    pid: n.pid,
    version: n.version,
    started_at: n.started_at,
    heartbeat_at: n.heartbeat_at,
    heartbeat_age_s: Math.max(0, Math.round((now - Date.parse(n.heartbeat_at)) / 100) / 10),
    load: nodeLoad(n),
  };
}

export async function listNodes(
  db: Db,
  deadAfterMs: number,
): Promise<{ nodes: NodeView[]; leases: Awaited<ReturnType<typeof currentLeases>> }> {
  const rows = await db.selectFrom("nodes").selectAll().orderBy("id").execute();
  return { nodes: rows.map((r) => viewNode(r, deadAfterMs)), leases: await currentLeases(db) };
}

export async function nodeOrThrow(db: Db, id: string): Promise<NodeRow> {
  const row = await db.selectFrom("nodes").selectAll().where("id", "=", id).executeTakeFirst();
  if (row) return row;
  const known = await db.selectFrom("nodes").select("id").orderBy("id").execute();
  throw new AppError("not_found", `no node ${id} in this cluster`, {
    details: [known.length ? `nodes: ${known.map((k) => k.id).join(", ")}` : "no node has registered yet (TAPEDECK_CLUSTER=on)"],
  });
}

/** Marks a node draining (or active again); returns it as it is now. */
export async function setDraining(db: Db, id: string, draining: boolean): Promise<NodeRow> {
  const node = await nodeOrThrow(db, id);
  if (node.state === "dead")
    throw new AppError("conflict", `node ${id} is dead`, {
      details: ["a dead node has no work to drain; start it again to bring it back"],
    });
  await db
    .updateTable("nodes")
    .set({ state: draining ? "draining" : "active" })
    .where("id", "=", id)
    .where("state", "!=", "dead")
    .execute();
  return nodeOrThrow(db, id);
}

export async function workLeft(db: Db, id: string): Promise<WorkLeft> {
  const count = sql<number>`count(*)`.as("n");
  const [peers, recordings, jobs] = await Promise.all([
    db.selectFrom("peers").select(count).where("node_id", "=", id).where("left_at", "is", null).executeTakeFirst(),
    db
      .selectFrom("recordings")
      .select(count)
      .where("worker", "=", id)
      .where("status", "in", ["starting", "running", "stopping"])
      .executeTakeFirst(),
    db.selectFrom("jobs").select(count).where("node_id", "=", id).where("state", "in", ["pending", "running"]).executeTakeFirst(),
  ]);
  return { peers: Number(peers?.n ?? 0), recordings: Number(recordings?.n ?? 0), jobs: Number(jobs?.n ?? 0) };
}
