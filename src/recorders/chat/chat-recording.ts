import fs from "node:fs";
import path from "node:path";
import type { Db } from "../../db/database.ts";
import { buildChatCsv } from "./chat-csv.ts";

/**
 * Writes a session's recorded chat (messages to everyone or to roles, never direct ones; only those
 * sent within `span` when given) to `file` as CSV, and returns how many messages it holds. Nothing is
 * written when there are none.
 */
export async function writeChatCsv(db: Db, sessionId: string, file: string, span?: { from: string; to: string }): Promise<number> {
  let query = db.selectFrom("chat_messages").selectAll().where("session_id", "=", sessionId).where("to_peer_id", "is", null);
  if (span) query = query.where("sent_at", ">=", span.from).where("sent_at", "<=", span.to);
  const rows = await query.orderBy("sent_at").orderBy("id").execute();
  if (rows.length === 0) return 0;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, buildChatCsv(rows.map((r) => ({ ...r, roles: JSON.parse(r.roles) as string[] }))));
  return rows.length;
}
