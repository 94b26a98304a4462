import type { Kysely } from "kysely";

// Scale-out (TAPEDECK_CLUSTER=on, docs/cluster.md):
// - `nodes`: every tapedeck node, its roles, the URL other nodes reach it at, its heartbeat and load, and
//   its state (`active`, `draining`: no new rooms or recordings, `dead`: missed its heartbeats);
// - `room_placements`: the SFU node a room's session lives on, chosen by load when the session opens;
// - `cluster_leases`: work that runs once per cluster (the dead-node reaper, the retention sweeper);
// - `jobs.node_id`: a job that reads files only one node has (its spool) is pinned to that node; when
//   that node is dead, any worker may take it over and finishes it from what reached the bucket;
// - `peers.node_id`: the node a present peer is connected to, so a dead node's peers (and only they)
//   are removed when it dies, while those who rejoined on another node stay.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("nodes")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("url", "text", (c) => c.notNull())
    .addColumn("roles", "text", (c) => c.notNull())
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("pid", "integer", (c) => c.notNull())
    .addColumn("version", "text", (c) => c.notNull())
    .addColumn("load", "text", (c) => c.notNull())
    .addColumn("started_at", "text", (c) => c.notNull())
    .addColumn("heartbeat_at", "text", (c) => c.notNull())
    .execute();
  await db.schema
    .createTable("room_placements")
    .addColumn("room_id", "text", (c) => c.primaryKey())
    .addColumn("node_id", "text", (c) => c.notNull())
    .addColumn("placed_at", "text", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("room_placements_node_idx").on("room_placements").column("node_id").execute();
  await db.schema
    .createTable("cluster_leases")
    .addColumn("name", "text", (c) => c.primaryKey())
    .addColumn("node_id", "text", (c) => c.notNull())
    .addColumn("expires_at", "text", (c) => c.notNull())
    .execute();
  await db.schema.alterTable("jobs").addColumn("node_id", "text").execute();
  await db.schema.alterTable("peers").addColumn("node_id", "text").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("peers").dropColumn("node_id").execute();
  await db.schema.alterTable("jobs").dropColumn("node_id").execute();
  await db.schema.dropTable("cluster_leases").execute();
  await db.schema.dropTable("room_placements").execute();
  await db.schema.dropTable("nodes").execute();
}
