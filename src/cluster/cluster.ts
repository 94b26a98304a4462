import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { AppContext, ClusterNode } from "../app-context.ts";
import type { Config } from "../config/config.ts";
import type { NodeRow } from "../db/schema.ts";
import { SessionStore } from "../sfu/session.store.ts";
import type { SfuService } from "../sfu/sfu-service.ts";
import { ClusterSfu } from "./cluster-sfu.ts";
import { asNode, setLocalNode } from "../config/local-node.ts";
import { holdLease } from "./leases.ts";
import { countLoad, NodeRegistry } from "./node-registry.ts";
import { Placement } from "./placement.ts";

// This process as a node of a cluster (TAPEDECK_CLUSTER=on): its id, its row in `nodes` with the
// heartbeat (node-registry.ts), room placement (placement.ts), the SFU routing (cluster-sfu.ts), the
// once-per-cluster work (leases.ts), and what happens when another node dies:
// - its rooms' placements are dropped, so rejoining peers are placed on a live node;
// - its peers that did not come back are removed ("server removed peer"); a session whose every peer
//   is gone closes, and its SFU recording is finished (the jobs that does are pinned to the dead node,
//   so any worker takes them over at once, from what reached the bucket);
// - its browser recordings and live streams are finished or claimed again by the workers (capture-worker.ts);
// - the jobs pinned to it become anyone's (job-queue.ts).

type ClusterContext = Pick<AppContext, "db" | "outbox" | "identity" | "log" | "config" | "events">;

/** Why this configuration cannot run as a cluster node (null: it can). */
export function clusterSettingsProblem(config: Pick<Config, "databaseUrl" | "bucket" | "cluster" | "port">): string | null {
  if (!/^postgres(ql)?:\/\//.test(config.databaseUrl))
    return "TAPEDECK_CLUSTER=on needs DATABASE_URL=postgres://… : the nodes share their state, jobs and room placements in one PostgreSQL (SQLite lives in one node's data directory)";
  if (!config.bucket)
    return "TAPEDECK_CLUSTER=on needs TAPEDECK_BUCKET=s3://bucket[/prefix] (with TAPEDECK_BUCKET_ENDPOINT/_REGION/_ACCESS_KEY/_SECRET_KEY as needed): every node must see the files the others upload (the internal bucket in <data dir>/bucket is on one machine)";
  if (!config.cluster.nodeUrl && config.port === 0)
    return "TAPEDECK_CLUSTER=on with PORT=0 needs TAPEDECK_NODE_URL: the other nodes must know where to reach this one";
  return null;
}

/** TAPEDECK_NODE_ID, or the id this data directory was given on its first start (kept in `<data dir>/node-id`). */
export function resolveNodeId(config: Pick<Config, "cluster" | "dataDir">): string {
  if (config.cluster.nodeId) return config.cluster.nodeId;
  const file = path.join(config.dataDir, "node-id");
  try {
    const id = fs.readFileSync(file, "utf8").trim();
    if (/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(id)) return id;
  } catch {
    /* first start */
  }
  const host =
    os
      .hostname()
      .replace(/[^A-Za-z0-9._-]/g, "-")
      .replace(/^[^A-Za-z0-9]+/, "")
      .slice(0, 40) || "node";
  const id = `${host}-${randomBytes(3).toString("hex")}`;
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(file, `${id}\n`, { mode: 0o600 });
  return id;
}

export class ClusterMembership implements ClusterNode {
  readonly id: string;
  readonly placement: Placement;
  readonly registry: NodeRegistry;

  constructor(
    private readonly ctx: ClusterContext,
    o: { onFenced: (why: string) => void },
  ) {
    this.id = resolveNodeId(ctx.config);
    ctx.config.cluster.nodeId = this.id;
    setLocalNode(this.id);
    this.placement = new Placement(ctx.db, ctx.config.cluster.deadAfterMs, ctx.config.cluster.cpuLimit);
    this.registry = new NodeRegistry({
      db: ctx.db,
      log: ctx.log.child({ component: "cluster", node_id: this.id }),
      config: ctx.config,
      id: this.id,
      url: "",
      onNodeDead: (node) => this.takeOver(node),
      onFenced: o.onFenced,
    });
  }

  takesNewWork(): Promise<boolean> {
    return this.registry.takesNewWorkNow();
  }

  async deadNodes(): Promise<string[]> {
    const rows = await this.ctx.db.selectFrom("nodes").select("id").where("state", "=", "dead").execute();
    return rows.map((r) => r.id);
  }

  /** The SFU every route uses: this node's own (or none) behind the cluster's placement and relay. */
  sfu(local: SfuService | null): ClusterSfu {
    return new ClusterSfu({ nodeId: this.id, local, placement: this.placement, appSecret: this.ctx.identity.appSecret, log: this.ctx.log });
  }

  /** Registers with the URL the others reach this node at, and starts the heartbeat. */
  async join(listeningUrl: string, port: number): Promise<void> {
    const scheme = listeningUrl.startsWith("https") ? "https" : "http";
    this.registry.setUrl(this.ctx.config.cluster.nodeUrl ?? `${scheme}://${os.hostname()}:${port}`);
    await this.registry.register();
    this.registry.start(() => countLoad(this.ctx.db, this.id));
  }

  /** Whether this node holds a once-per-cluster job's lease now (renewed on each call). */
  holds(name: string, ttlMs: number): Promise<boolean> {
    return holdLease(this.ctx.db, name, this.id, ttlMs);
  }

  async stop(): Promise<void> {
    await this.registry.stop();
  }

  private async takeOver(node: NodeRow): Promise<void> {
    const { ctx } = this;
    const rooms = await this.placement.release(node.id);
    const store = new SessionStore(ctx);
    const removed = await asNode(node.id, () => store.removeOrphanPeers(undefined, { node: node.id }));
    ctx.log.warn({ dead_node: node.id, rooms: rooms.length, peers_removed: removed }, "took over a dead node's rooms");
    // Its recordings and pinned jobs are now anyone's: wake this node's workers rather than wait for a poll.
    ctx.events.emit("jobs.queued");
    for (const kind of ["beam", "hls", "rtmp"] as const) ctx.events.emit("recording.requested", { kind });
  }
}
