import type { Kysely } from "kysely";

// Every track the SFU records, with what post-processing needs after the session: its spool file, when
// its first frame was written (the file's timestamp 0) and whether its own upload is done. The
// session-level state of an SFU recording is a `recordings` row of kind `sfu`.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("recorded_tracks")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("recording_id", "text", (c) => c.notNull())
    .addColumn("room_id", "text", (c) => c.notNull())
    .addColumn("session_id", "text", (c) => c.notNull())
    .addColumn("peer_id", "text", (c) => c.notNull())
    .addColumn("stream_id", "text", (c) => c.notNull())
    .addColumn("track_id", "text", (c) => c.notNull())
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("source", "text", (c) => c.notNull())
    .addColumn("file", "text", (c) => c.notNull())
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("upload", "text", (c) => c.notNull())
    .addColumn("started_at", "text", (c) => c.notNull())
    .addColumn("first_media_at", "text")
    .addColumn("ended_at", "text")
    .addColumn("bytes", "bigint")
    .execute();
  await db.schema
    .createIndex("recorded_tracks_session_idx")
    .on("recorded_tracks")
    .columns(["session_id", "peer_id", "track_id"])
    .unique()
    .execute();
  await db.schema.createIndex("recordings_session_idx").on("recordings").columns(["session_id", "kind"]).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex("recordings_session_idx").execute();
  await db.schema.dropTable("recorded_tracks").execute();
}
