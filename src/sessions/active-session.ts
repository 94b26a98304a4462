import type { Db } from "../db/database.ts";

/**
 * The id of the room's session in progress, if any. A recording or live stream started while one is on
 * belongs to it from the start (its `session_id` in the start answer, as 100ms's sample shows), not only
 * once its recorder has joined.
 */
export async function activeSessionId(db: Db, roomId: string): Promise<string | null> {
  const row = await db
    .selectFrom("sessions")
    .select("id")
    .where("room_id", "=", roomId)
    .where("active", "=", 1)
    .orderBy("id", "desc")
    .executeTakeFirst();
  return row?.id ?? null;
}
