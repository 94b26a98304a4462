import type { Kysely } from "kysely";

// Browser recordings ("beam") are `recordings` rows of kind `beam`. What the API asks of a running one
// (stop, pause) and which worker holds it (a lease renewed while it records) live in their own columns,
// so the API and the worker never rewrite each other's JSON.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("recordings").addColumn("stop_reason", "text").execute();
  await db.schema
    .alterTable("recordings")
    .addColumn("paused", "integer", (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable("recordings").addColumn("worker", "text").execute();
  await db.schema.alterTable("recordings").addColumn("lease_until", "text").execute();
  await db.schema.createIndex("recordings_kind_status_idx").on("recordings").columns(["kind", "status"]).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex("recordings_kind_status_idx").execute();
  for (const c of ["lease_until", "worker", "paused", "stop_reason"]) await db.schema.alterTable("recordings").dropColumn(c).execute();
}
