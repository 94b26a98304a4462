import type { Kysely } from "kysely";
import type { SecretBox } from "../crypto/secret-box.ts";
import type { Database, WebhookAttemptRow, WebhookEventRow } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { ANALYTICS_ONLY_EVENT_TYPES, isAnalyticsOnly, type WebhookEventType, type WebhookState } from "../domain/webhook-types.ts";
import type { WebhookEnvelope } from "./events.ts";
import { resolveEndpointForRoomId, sealHeaders } from "./webhook-config.ts";

// Reading the outbox (delivery log, past events) and queuing replays. Lists are ordered by
// (created_at, id), oldest first (ids are UUIDv7, ordered within a millisecond); the page cursor
// `start` (the previous page's `last`, an event id) is turned into its position in that order.

export interface EventFilter {
  type?: WebhookEventType;
  room_id?: string;
  state?: WebhookState;
  /** Exclusive cursor: the `last` of the previous page. */
  start?: string;
  limit: number;
  /** Leave out the analytics-only events (track.*, client.*), which are never delivered: the delivery log. */
  deliveredOnly?: boolean;
  /** "desc": newest first (a tapedeck addition for the delivery log; `start` then pages back in time). */
  order?: "asc" | "desc";
}

/** A delivery log entry, as the API shows it (header values never appear here). */
export interface DeliveryLogEntry {
  id: string;
  type: WebhookEventType;
  room_id: string | null;
  state: WebhookState;
  url: string | null;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  created_at: string;
  next_attempt_at: string | null;
  delivered_at: string | null;
}

export interface AttemptEntry {
  attempt: number;
  replay: boolean;
  url: string;
  started_at: string;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
  response_excerpt: string | null;
}

/** Up to `limit + 1` events matching the filter, in log order (feed the result to `toPage`). */
export async function listEvents(db: Kysely<Database>, f: EventFilter): Promise<WebhookEventRow[]> {
  let q = db.selectFrom("webhook_events").selectAll();
  if (f.type) q = q.where("type", "=", f.type);
  if (f.room_id) q = q.where("room_id", "=", f.room_id);
  if (f.state) q = q.where("state", "=", f.state);
  if (f.deliveredOnly) q = q.where("type", "not in", [...ANALYTICS_ONLY_EVENT_TYPES]);
  if (f.start) {
    const from = await db.selectFrom("webhook_events").select(["id", "created_at"]).where("id", "=", f.start).executeTakeFirst();
    if (!from)
      throw new AppError("invalid_query", "Invalid query parameter: start", {
        details: [`start: no event with id ${JSON.stringify(f.start)}`],
      });
    const op = f.order === "desc" ? "<" : ">";
    q = q.where((eb) =>
      eb.or([eb("created_at", op, from.created_at), eb.and([eb("created_at", "=", from.created_at), eb("id", op, from.id)])]),
    );
  }
  const dir = f.order === "desc" ? "desc" : "asc";
  return q
    .orderBy("created_at", dir)
    .orderBy("id", dir)
    .limit(f.limit + 1)
    .execute();
}

export function toLogEntry(r: WebhookEventRow): DeliveryLogEntry {
  const due = r.state === "pending" || r.state === "replaying";
  return {
    id: r.id,
    type: r.type,
    room_id: r.room_id,
    state: r.state,
    url: r.url,
    attempts: r.attempts,
    last_status: r.last_status,
    last_error: r.last_error,
    created_at: r.created_at,
    next_attempt_at: due ? r.next_attempt_at : null,
    delivered_at: r.delivered_at,
  };
}

export const toEnvelope = (r: WebhookEventRow): WebhookEnvelope => JSON.parse(r.body) as WebhookEnvelope;

export async function getEventWithAttempts(
  db: Kysely<Database>,
  id: string,
): Promise<{ event: WebhookEventRow; attempts: WebhookAttemptRow[] } | undefined> {
  const event = await db.selectFrom("webhook_events").selectAll().where("id", "=", id).executeTakeFirst();
  if (!event) return undefined;
  const attempts = await db
    .selectFrom("webhook_attempts")
    .selectAll()
    .where("event_id", "=", id)
    .orderBy("attempt")
    .orderBy("started_at")
    .execute();
  return { event, attempts };
}

export const toAttemptEntry = (a: WebhookAttemptRow): AttemptEntry => ({
  attempt: a.attempt,
  replay: a.replay === 1,
  url: a.url,
  started_at: a.started_at,
  duration_ms: a.duration_ms,
  status_code: a.status_code,
  error: a.error,
  response_excerpt: a.response_excerpt,
});

/**
 * Queues events for immediate delivery again, whatever their state, to the endpoint configured now
 * (the room's webhook, else the app's), so a fixed URL takes effect. Unknown ids → 404, events with
 * no endpoint configured → 409; either way nothing is queued.
 */
export async function queueReplay(db: Kysely<Database>, box: SecretBox, ids: string[]): Promise<Array<{ id: string; url: string }>> {
  const unique = [...new Set(ids)];
  return db.transaction().execute(async (trx) => {
    const rows = await trx.selectFrom("webhook_events").select(["id", "room_id", "type"]).where("id", "in", unique).execute();
    // Analytics-only events are not webhooks: replaying one is replaying an event that does not exist.
    const found = new Map(rows.filter((r) => !isAnalyticsOnly(r.type)).map((r) => [r.id, r]));
    const missing = unique.filter((id) => !found.has(id));
    if (missing.length) {
      throw new AppError("not_found", missing.length === 1 ? "webhook event not found" : "webhook events not found", {
        details: missing.map((id) => `no webhook event with id ${JSON.stringify(id)}`),
      });
    }
    const endpoints = [];
    for (const id of unique) endpoints.push({ id, endpoint: await resolveEndpointForRoomId(trx, box, found.get(id)!.room_id) });
    const homeless = endpoints.filter((e) => !e.endpoint);
    if (homeless.length) {
      throw new AppError("conflict", "no webhook endpoint is configured for these events", {
        details: homeless.map(
          (e) => `event ${JSON.stringify(e.id)}: set the app webhook (POST /v2/webhooks/config) or the room's webhook first`,
        ),
      });
    }
    const now = new Date().toISOString();
    for (const { id, endpoint } of endpoints) {
      await trx
        .updateTable("webhook_events")
        .set({
          state: "replaying",
          next_attempt_at: now,
          locked_until: null,
          url: endpoint!.url,
          headers: sealHeaders(endpoint!.headers, box),
        })
        .where("id", "=", id)
        .execute();
    }
    return endpoints.map((e) => ({ id: e.id, url: e.endpoint!.url }));
  });
}
