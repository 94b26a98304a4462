import type { Db } from "../db/database.ts";
import { AppError } from "../errors.ts";
import { ANALYTICS_ONLY_EVENT_TYPES, type WebhookEventType } from "../domain/webhook-types.ts";
import type { WebhookEnvelope } from "../webhooks/events.ts";

// GET /v2/analytics/events: the event log (every event tapedeck wrote, webhooks and analytics-only
// events alike), filtered as 100ms documents, oldest first, answered as `{limit, total, next, events}`.
//
// Pagination as 100ms describes it: the first query takes a snapshot (events written after it do not
// appear while paging), and `next` carries on from the last event of the page within that snapshot.
// `next` is `<last event id>~<newest event id of the snapshot>`; "" when there is nothing more.

export const ERROR_EVENT_TYPES = ANALYTICS_ONLY_EVENT_TYPES.filter((t) => t.startsWith("client."));

export interface EventLogQuery {
  room_id?: string;
  types?: WebhookEventType[];
  session_id?: string;
  peer_id?: string;
  user_id?: string;
  beam_id?: string;
  /** Only the error events (client.*). */
  error?: boolean;
  limit: number;
  start?: string;
}

export interface EventLogPage {
  /** The number of events in this answer (100ms: "Number of events in current response"). */
  limit: number;
  total: number;
  next: string;
  events: WebhookEnvelope[];
}

const CURSOR = /^([0-9a-f-]{36})~([0-9a-f-]{36})$/;

const badStart = (start: string) =>
  new AppError("invalid_query", "Invalid query parameter: start", {
    details: [`start: ${JSON.stringify(start)} is not the \`next\` of a previous answer of this list`],
  });

export async function listEventLog(db: Db, q: EventLogQuery): Promise<EventLogPage> {
  let types = q.types?.length ? q.types : undefined;
  if (q.error) types = (types ?? ERROR_EVENT_TYPES).filter((t) => (ERROR_EVENT_TYPES as string[]).includes(t));
  if (types?.length === 0) return { limit: 0, total: 0, next: "", events: [] };

  const filtered = () => {
    let s = db.selectFrom("webhook_events");
    if (types) s = s.where("type", "in", types);
    if (q.room_id) s = s.where("room_id", "=", q.room_id);
    if (q.session_id) s = s.where("session_id", "=", q.session_id);
    if (q.peer_id) s = s.where("peer_id", "=", q.peer_id);
    if (q.user_id) s = s.where("user_id", "=", q.user_id);
    if (q.beam_id) s = s.where("beam_id", "=", q.beam_id);
    return s;
  };
  const position = async (id: string) =>
    db.selectFrom("webhook_events").select(["id", "created_at"]).where("id", "=", id).executeTakeFirst();

  let after: { id: string; created_at: string } | undefined;
  let until: { id: string; created_at: string } | undefined;
  if (q.start) {
    const m = CURSOR.exec(q.start);
    if (!m) throw badStart(q.start);
    [after, until] = await Promise.all([position(m[1]), position(m[2])]);
    if (!after || !until) throw badStart(q.start);
  } else {
    until = await filtered().select(["id", "created_at"]).orderBy("created_at", "desc").orderBy("id", "desc").limit(1).executeTakeFirst();
    if (!until) return { limit: 0, total: 0, next: "", events: [] };
  }
  const snap = until;
  const inSnapshot = () =>
    filtered().where((eb) =>
      eb.or([eb("created_at", "<", snap.created_at), eb.and([eb("created_at", "=", snap.created_at), eb("id", "<=", snap.id)])]),
    );
  const counted = await inSnapshot()
    .select((eb) => eb.fn.countAll<string | number>().as("n"))
    .executeTakeFirstOrThrow();
  let page = inSnapshot().select(["id", "body"]);
  if (after) {
    const a = after;
    page = page.where((eb) =>
      eb.or([eb("created_at", ">", a.created_at), eb.and([eb("created_at", "=", a.created_at), eb("id", ">", a.id)])]),
    );
  }
  const rows = await page
    .orderBy("created_at", "asc")
    .orderBy("id", "asc")
    .limit(q.limit + 1)
    .execute();
  const shown = rows.slice(0, q.limit);
  const more = rows.length > q.limit;
  return {
    limit: shown.length,
    total: Number(counted.n),
    next: more ? `${shown[shown.length - 1].id}~${snap.id}` : "",
    events: shown.map((r) => JSON.parse(r.body) as WebhookEnvelope),
  };
}
