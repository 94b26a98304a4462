import type { Kysely } from "kysely";

// Room codes (`/v2/room-codes`): short codes (`abc-defg-hij`) that stand for a room and one of its roles.
// The client SDK exchanges one for an app token (`POST /api/token`), and `/meeting/<code>` opens the room
// page with one. `id` is time-ordered and only orders the list; `code` is what clients see and send.
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable("room_codes")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("code", "text", (c) => c.notNull().unique())
    .addColumn("room_id", "text", (c) => c.notNull())
    .addColumn("role", "text", (c) => c.notNull())
    .addColumn("enabled", "integer", (c) => c.notNull())
    .addColumn("created_at", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("room_codes_room_idx").on("room_codes").columns(["room_id", "id"]).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("room_codes").execute();
}
