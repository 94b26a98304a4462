import os from "node:os";
import { sql } from "kysely";
import type { Config, Role } from "../config/config.ts";
import type { Db } from "../db/database.ts";
import type { NodeRow, NodeState } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { nowIso } from "../ids.ts";
import type { Logger } from "../log.ts";
import { holdLease, releaseLeases } from "./leases.ts";

// This node in the cluster's `nodes` table: registered at boot with its roles and the URL other nodes
// reach it at, then a heartbeat every TAPEDECK_HEARTBEAT_SECONDS that writes its load (the machine's
// CPU, its rooms, peers and recordings) and reads back its state, which `tapedeck node drain` may have
// changed. On every beat one node (the holder of the `reaper` lease) declares dead the nodes whose
// heartbeat is older than TAPEDECK_NODE_DEAD_SECONDS and hands their work over (`onNodeDead`).
//
// A node that finds itself declared dead (it was frozen, or cut off from the database, for longer than
// that) has had its rooms and recordings taken over by others; going on would make two owners, so it
// stops (`onFenced`: the process exits, and its service manager starts it again, clean).

export interface NodeLoad {
  /** Share of the machine's CPU busy over the last beat (0–1). */
  cpu: number;
  cores: number;
  rooms: number;
  peers: number;
  recordings: number;
}

export const NODE_STATES: readonly NodeState[] = ["active", "draining", "dead"];
const VERSION = "0.1.0";

export interface NodeRegistryOptions {
  db: Db;
  log: Logger;
  config: Pick<Config, "cluster" | "roles">;
  id: string;
  url: string;
  /** A dead node's work is handed over (called on the node holding the reaper lease, once per death). */
  onNodeDead: (node: NodeRow) => Promise<void>;
  /** This node was declared dead by the others: stop now. */
  onFenced: (why: string) => void;
}

export class NodeRegistry {
  readonly id: string;
  private urlNow: string;
  private stateNow: NodeState = "active";
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private lastCpu = machineCpuTimes();
  private stopped = false;

  constructor(private readonly o: NodeRegistryOptions) {
    this.id = o.id;
    this.urlNow = o.url;
  }

  get url(): string {
    return this.urlNow;
  }

  /** Known once the server listens (its port). */
  setUrl(url: string): void {
    this.urlNow = url.replace(/\/+$/, "");
  }

  get state(): NodeState {
    return this.stateNow;
  }

  /** Whether this node takes new rooms and recordings (not while draining), as of the last heartbeat. */
  get takesNewWork(): boolean {
    return this.stateNow === "active";
  }

  /** The same, read now: a drain asked a moment ago stops the very next claim, not the one after the next heartbeat. */
  async takesNewWorkNow(): Promise<boolean> {
    const me = await this.o.db.selectFrom("nodes").select("state").where("id", "=", this.id).executeTakeFirst();
    if (me && me.state !== "dead") this.stateNow = me.state;
    return this.stateNow === "active";
  }

  /**
   * Registers (or re-registers after a restart) as `active`. Refuses when a live node elsewhere uses
   * the same id: two processes with one id would take each other's rooms and jobs.
   */
  async register(): Promise<void> {
    const { db, config } = this.o;
    const existing = await db.selectFrom("nodes").selectAll().where("id", "=", this.id).executeTakeFirst();
    if (existing && existing.state !== "dead" && existing.url !== this.url && isFresh(existing, config.cluster.deadAfterMs)) {
      throw new AppError(
        "internal",
        `node id ${this.id} is in use by a live node at ${existing.url} (pid ${existing.pid}): give each node its own TAPEDECK_NODE_ID (or data directory)`,
      );
    }
    const now = nowIso();
    const row = {
      url: this.url,
      roles: [...config.roles].sort().join(","),
      state: "active" as const,
      pid: process.pid,
      version: VERSION,
      load: JSON.stringify(await this.measure()),
      started_at: now,
      heartbeat_at: now,
    };
    await db
      .insertInto("nodes")
      .values({ id: this.id, ...row })
      .onConflict((oc) => oc.column("id").doUpdateSet(row))
      .execute();
    this.stateNow = "active";
    this.o.log.info({ node_id: this.id, url: this.url, roles: row.roles }, "node registered in the cluster");
  }

  start(loadOf: () => Promise<Omit<NodeLoad, "cpu" | "cores">>): void {
    this.loadOf = loadOf;
    this.timer = setInterval(() => {
      if (!this.beating) this.beating = this.beat().finally(() => (this.beating = undefined));
    }, this.o.config.cluster.heartbeatMs);
    this.timer.unref();
  }

  private loadOf: () => Promise<Omit<NodeLoad, "cpu" | "cores">> = async () => ({ rooms: 0, peers: 0, recordings: 0 });

  /** One heartbeat: load written, state read back, and (with the reaper lease) dead nodes handed over. */
  async beat(): Promise<void> {
    const { db, log, config } = this.o;
    try {
      const load = await this.measure();
      await db
        .updateTable("nodes")
        .set({ heartbeat_at: nowIso(), load: JSON.stringify(load) })
        .where("id", "=", this.id)
        .execute();
      const me = await db.selectFrom("nodes").select(["state"]).where("id", "=", this.id).executeTakeFirst();
      if (this.stopped) return;
      if (!me || me.state === "dead") {
        this.o.onFenced(
          me
            ? `the cluster declared this node dead (no heartbeat for over ${config.cluster.deadAfterMs / 1000} s) and took over its work`
            : "this node's row was removed from the cluster",
        );
        return;
      }
      if (me.state !== this.stateNow) log.info({ from: this.stateNow, to: me.state }, `node is now ${me.state}`);
      this.stateNow = me.state;
      if (await holdLease(db, "reaper", this.id, config.cluster.deadAfterMs)) await this.reap();
    } catch (err) {
      log.error({ err }, "cluster heartbeat failed (the database may be unreachable)");
    }
  }

  /** Declares dead the nodes whose heartbeat is too old, each once (a conditional update), and hands their work over. */
  async reap(): Promise<void> {
    const { db, log, config } = this.o;
    const cutoff = new Date(Date.now() - config.cluster.deadAfterMs).toISOString();
    const stale = await db
      .selectFrom("nodes")
      .selectAll()
      .where("state", "!=", "dead")
      .where("heartbeat_at", "<", cutoff)
      .where("id", "!=", this.id)
      .execute();
    for (const node of stale) {
      const res = await db
        .updateTable("nodes")
        .set({ state: "dead" })
        .where("id", "=", node.id)
        .where("state", "!=", "dead")
        .where("heartbeat_at", "=", node.heartbeat_at)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) continue; // it beat meanwhile, or another reaper got it
      const silentS = Math.round((Date.now() - Date.parse(node.heartbeat_at)) / 1000);
      log.error(
        { dead_node: node.id, url: node.url, silent_s: silentS },
        "node declared dead: no heartbeat; taking over its rooms and work",
      );
      try {
        await this.o.onNodeDead({ ...node, state: "dead" });
      } catch (err) {
        log.error({ err, dead_node: node.id }, "taking over a dead node's work failed; its jobs stay claimable");
      }
    }
  }

  /** Stops the heartbeat and gives back this node's leases (the node's row stays: it is dead once its heartbeat is old). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.beating;
    await releaseLeases(this.o.db, this.id).catch((err) => this.o.log.warn({ err }, "could not give back the cluster leases"));
  }

  private async measure(): Promise<NodeLoad> {
    const now = machineCpuTimes();
    const busy = now.busy - this.lastCpu.busy;
    const total = now.total - this.lastCpu.total;
    this.lastCpu = now;
    const counts = await this.loadOf();
    return { cpu: total > 0 ? Math.round((busy / total) * 1000) / 1000 : 0, cores: os.cpus().length, ...counts };
  }
}

/** Whether a node's heartbeat is recent enough for it to count as alive. */
export function isFresh(node: Pick<NodeRow, "heartbeat_at">, deadAfterMs: number, now = Date.now()): boolean {
  return Date.parse(node.heartbeat_at) > now - deadAfterMs;
}

export function isAlive(node: Pick<NodeRow, "heartbeat_at" | "state">, deadAfterMs: number, now = Date.now()): boolean {
  return node.state !== "dead" && isFresh(node, deadAfterMs, now);
}

export function nodeLoad(node: Pick<NodeRow, "load">): NodeLoad {
  try {
    return { cpu: 0, cores: 1, rooms: 0, peers: 0, recordings: 0, ...(JSON.parse(node.load) as Partial<NodeLoad>) };
  } catch {
    return { cpu: 0, cores: 1, rooms: 0, peers: 0, recordings: 0 };
  }
}

export function nodeRoles(node: Pick<NodeRow, "roles">): Role[] {
  return node.roles.split(",").filter(Boolean) as Role[];
}

/** The load counts of a node, from the database: rooms placed on it, peers connected to it, recordings it runs. */
export async function countLoad(db: Db, nodeId: string): Promise<Omit<NodeLoad, "cpu" | "cores">> {
  const [rooms, peers, recordings] = await Promise.all([
    db.selectFrom("room_placements").select(sql<number>`count(*)`.as("n")).where("node_id", "=", nodeId).executeTakeFirst(),
    db
      .selectFrom("peers")
      .select(sql<number>`count(*)`.as("n"))
      .where("node_id", "=", nodeId)
      .where("left_at", "is", null)
      .executeTakeFirst(),
    db
      .selectFrom("recordings")
      .select(sql<number>`count(*)`.as("n"))
      .where("worker", "=", nodeId)
      .where("status", "in", ["starting", "running", "stopping"])
      .executeTakeFirst(),
  ]);
  return { rooms: Number(rooms?.n ?? 0), peers: Number(peers?.n ?? 0), recordings: Number(recordings?.n ?? 0) };
}

function machineCpuTimes(): { busy: number; total: number } {
  let busy = 0;
  let total = 0;
  for (const c of os.cpus()) {
    const t = c.times.user + c.times.nice + c.times.sys + c.times.irq + c.times.idle;
    total += t;
    busy += t - c.times.idle;
  }
  return { busy, total };
}
