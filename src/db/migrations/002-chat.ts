import type { Kysely } from "kysely";

// Chat messages, kept for the chat recording (CSV) of every recording type.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("chat_messages")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("room_id", "text", (c) => c.notNull())
    .addColumn("session_id", "text", (c) => c.notNull())
    .addColumn("sender_peer_id", "text", (c) => c.notNull())
    .addColumn("sender_name", "text", (c) => c.notNull())
    .addColumn("sender_user_id", "text", (c) => c.notNull())
    .addColumn("sender_role", "text", (c) => c.notNull())
    .addColumn("roles", "text", (c) => c.notNull())
    .addColumn("to_peer_id", "text")
    .addColumn("message", "text", (c) => c.notNull())
    .addColumn("sent_at", "text", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("chat_session_idx").on("chat_messages").columns(["session_id", "sent_at"]).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("chat_messages").execute();
}
