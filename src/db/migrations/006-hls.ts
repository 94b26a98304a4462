import type { Kysely } from "kysely";

// Live streams are `recordings` rows of kind `hls`. Timed metadata sent to a live stream is kept here; the
// playlist server writes it into the live playlists as #EXT-X-DATERANGE.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("live_stream_metadata")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("stream_id", "text", (c) => c.notNull())
    .addColumn("payload", "text", (c) => c.notNull())
    .addColumn("duration", "real", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("live_stream_metadata_stream_idx").on("live_stream_metadata").columns(["stream_id", "created_at"]).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("live_stream_metadata").execute();
}
