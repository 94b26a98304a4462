import type { Kysely } from "kysely";

// Analytics (/v2/analytics):
// - the event log's filters (`session_id`, `peer_id`, `user_id`, `beam_id` of GET /v2/analytics/events)
//   become columns of `webhook_events`, filled by the outbox from each event's data; rows written before
//   this migration are filled here from their stored body;
// - `peer_stats`: one row per peer and session with its quality time series (GET /v2/analytics/peer-stats),
//   written by the SFU while the peer is in the room and when it leaves;
// - `webhook_replays`: replays by time range (POST /v2/analytics/webhooks/replay) and their progress.
const FILTER_COLUMNS = ["session_id", "peer_id", "user_id", "beam_id"] as const;

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const col of FILTER_COLUMNS) await db.schema.alterTable("webhook_events").addColumn(col, "text").execute();
  await db.schema.createIndex("webhook_events_session_idx").on("webhook_events").columns(["session_id", "created_at", "id"]).execute();
  await db.schema.createIndex("webhook_events_peer_idx").on("webhook_events").columns(["peer_id", "created_at", "id"]).execute();
  await backfill(db as Kysely<BackfillDb>);

  await db.schema
    .createTable("peer_stats")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("session_id", "text", (c) => c.notNull())
    .addColumn("peer_id", "text", (c) => c.notNull())
    .addColumn("room_id", "text", (c) => c.notNull())
    .addColumn("stats", "text", (c) => c.notNull())
    .addColumn("updated_at", "text", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("peer_stats_peer_idx").on("peer_stats").columns(["session_id", "peer_id"]).unique().execute();

  await db.schema
    .createTable("webhook_replays")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("filter_key", "text", (c) => c.notNull())
    .addColumn("filters", "text", (c) => c.notNull())
    .addColumn("event_ids", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("started_at", "text", (c) => c.notNull())
    .addColumn("completed_at", "text")
    .execute();
  await db.schema.createIndex("webhook_replays_key_idx").on("webhook_replays").columns(["filter_key", "status"]).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable("webhook_replays").execute();
  await db.schema.dropTable("peer_stats").execute();
  await db.schema.dropIndex("webhook_events_peer_idx").execute();
  await db.schema.dropIndex("webhook_events_session_idx").execute();
  for (const col of FILTER_COLUMNS) await db.schema.alterTable("webhook_events").dropColumn(col).execute();
}

interface BackfillDb {
  webhook_events: { id: string; body: string } & Record<(typeof FILTER_COLUMNS)[number], string | null>;
}

/** Fills the filter columns of the rows already written, from their JSON body, in pages (portable: no JSON SQL). */
async function backfill(db: Kysely<BackfillDb>): Promise<void> {
  let after = "";
  for (;;) {
    const rows = await db.selectFrom("webhook_events").select(["id", "body"]).where("id", ">", after).orderBy("id").limit(500).execute();
    if (!rows.length) return;
    for (const r of rows) {
      const cols = eventFilterColumns(parseData(r.body));
      if (Object.values(cols).some((v) => v !== null)) await db.updateTable("webhook_events").set(cols).where("id", "=", r.id).execute();
    }
    after = rows[rows.length - 1].id;
  }
}

function parseData(body: string): Record<string, unknown> {
  try {
    const data = (JSON.parse(body) as { data?: unknown }).data;
    return data && typeof data === "object" ? (data as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** The filter columns of an event, from its data (the outbox does the same for every new event). */
function eventFilterColumns(data: Record<string, unknown>): Record<(typeof FILTER_COLUMNS)[number], string | null> {
  const str = (v: unknown) => (typeof v === "string" && v !== "" ? v.slice(0, 200) : null);
  return { session_id: str(data.session_id), peer_id: str(data.peer_id), user_id: str(data.user_id), beam_id: str(data.beam_id) };
}
