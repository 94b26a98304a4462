import { sql } from "kysely";
import type { Db } from "../db/database.ts";

// Work that must run once per cluster (the dead-node reaper, the retention sweeper) runs on whichever
// node holds its lease: a row per name in `cluster_leases`, taken when free or expired, renewed by its
// holder each time it runs. One statement (an upsert whose update only applies to an expired lease or
// the holder's own), so two nodes racing for it cannot both win.

export async function holdLease(db: Db, name: string, nodeId: string, ttlMs: number): Promise<boolean> {
  const now = new Date();
  const expires = new Date(now.getTime() + ttlMs).toISOString();
  await db
    .insertInto("cluster_leases")
    .values({ name, node_id: nodeId, expires_at: expires })
    .onConflict((oc) =>
      oc
        .column("name")
        .doUpdateSet({ node_id: nodeId, expires_at: expires })
        .where((eb) => eb.or([eb("cluster_leases.node_id", "=", nodeId), eb("cluster_leases.expires_at", "<", now.toISOString())])),
    )
    .execute();
  const row = await db.selectFrom("cluster_leases").select("node_id").where("name", "=", name).executeTakeFirst();
  return row?.node_id === nodeId;
}

/** Gives a lease back (graceful stop), so another node takes the work over without waiting for it to expire. */
export async function releaseLeases(db: Db, nodeId: string): Promise<void> {
  await db.deleteFrom("cluster_leases").where("node_id", "=", nodeId).execute();
}

/** Who holds each lease now (for `tapedeck node list` and /v2/nodes). */
export async function currentLeases(db: Db): Promise<Array<{ name: string; node_id: string; expires_at: string }>> {
  return db
    .selectFrom("cluster_leases")
    .selectAll()
    .where("expires_at", ">", sql<string>`${new Date().toISOString()}`)
    .orderBy("name")
    .execute();
}
