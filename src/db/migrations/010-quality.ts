import type { Kysely } from "kysely";

// Quality reports (docs/recording.md, "Quality reports"): one row per analysed file, keyed by the id of
// its `quality` asset. The report is also uploaded beside the file as JSON; the row is what the API
// (GET /v2/recording-assets/:id/quality-report) and the dashboard's plot read, without the bucket.
// `recorded_tracks.stats`: what the SFU's track recorder saw of each track (packets, losses, keyframe
// requests, resolution changes), for the per-peer files' reports.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("quality_reports")
    .addColumn("asset_id", "text", (c) => c.primaryKey())
    .addColumn("recording_id", "text", (c) => c.notNull())
    .addColumn("grade", "text", (c) => c.notNull())
    .addColumn("report", "text", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("quality_reports_recording_idx").on("quality_reports").column("recording_id").execute();
  await db.schema.alterTable("recorded_tracks").addColumn("stats", "text").execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable("recorded_tracks").dropColumn("stats").execute();
  await db.schema.dropTable("quality_reports").execute();
}
