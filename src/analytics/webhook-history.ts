import type { Db } from "../db/database.ts";
import type { WebhookEventRow } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { ANALYTICS_ONLY_EVENT_TYPES, type WebhookEventType, type WebhookState } from "../domain/webhook-types.ts";

// 100ms's webhook delivery history (GET /v2/analytics/webhooks): the events whose delivery has come to
// an end, delivered (`success`) or given up (`failed`), in a time range, newest first, paged by page
// number. Events still being tried, events with no endpoint and analytics-only events are not history
// (tapedeck's full delivery log, GET /v2/webhooks/deliveries, shows every state).

export const HISTORY_STATUSES = ["all", "failed", "success"] as const;
export type HistoryStatus = (typeof HISTORY_STATUSES)[number];

const DAY_MS = 86_400_000;
const MAX_AGE_MS = 30 * DAY_MS;
const MAX_RANGE_MS = 14 * DAY_MS;

export interface TimeRange {
  start: string;
  end: string;
}

/**
 * The range a request asks for, with 100ms's defaults (the last 24 hours) and limits (start within
 * the last 30 days, end after it and at most 14 days later), refused in 100ms's words.
 */
export function timeRange(
  startTime: Date | undefined,
  endTime: Date | undefined,
  reason: "invalid_query" | "invalid_body",
  now = Date.now(),
): TimeRange {
  const end = endTime?.getTime() ?? now;
  const start = startTime?.getTime() ?? Math.min(end, now) - DAY_MS;
  const refuse = (message: string, detail: string) => new AppError(reason, message, { details: [detail] });
  if (start < now - MAX_AGE_MS)
    throw refuse("start_time must be within the last 30 days", `start_time: ${new Date(start).toISOString()} is more than 30 days ago`);
  if (end < start) throw refuse("end_time must be after start_time", `end_time: ${new Date(end).toISOString()} is before start_time`);
  if (end - start > MAX_RANGE_MS)
    throw refuse(
      "end_time must be within 14 days after start_time",
      `end_time: ${new Date(end).toISOString()} is more than 14 days after start_time`,
    );
  return { start: new Date(start).toISOString(), end: new Date(end).toISOString() };
}

export interface HistoryFilter {
  range: TimeRange;
  room_id?: string;
  status: HistoryStatus;
  event_names?: WebhookEventType[];
}

const statesOf = (status: HistoryStatus): WebhookState[] =>
  status === "success" ? ["delivered"] : status === "failed" ? ["failed"] : ["delivered", "failed"];

/** The history's rows matching `f` (a query builder: count it, page it, or take its ids). */
export function historyQuery(db: Db, f: HistoryFilter) {
  let q = db
    .selectFrom("webhook_events")
    .where("state", "in", statesOf(f.status))
    .where("type", "not in", [...ANALYTICS_ONLY_EVENT_TYPES])
    .where("created_at", ">=", f.range.start)
    .where("created_at", "<=", f.range.end);
  if (f.room_id) q = q.where("room_id", "=", f.room_id);
  if (f.event_names?.length) q = q.where("type", "in", f.event_names);
  return q;
}

/** One history entry as 100ms shows it; `error_reason` only for a failed delivery. */
export function toHistoryEntry(r: WebhookEventRow) {
  const failed = r.state === "failed";
  const eventData: Record<string, string> = {};
  for (const k of ["session_id", "peer_id", "user_id"] as const) if (r[k]) eventData[k] = r[k];
  return {
    event_id: r.id,
    event_name: failed ? "reporter.webhook.delivery.failed" : "reporter.webhook.delivery.success",
    room_id: r.room_id ?? "",
    event_timestamp: r.created_at,
    payload: {
      event_data: eventData,
      webhook_url: r.url ?? "",
      original_event_name: r.type,
      ...(failed ? { error_reason: r.last_error ?? "unknown" } : {}),
    },
  };
}

export async function listHistory(db: Db, f: HistoryFilter, page: number, limit: number) {
  const counted = await historyQuery(db, f)
    .select((eb) => eb.fn.countAll<string | number>().as("n"))
    .executeTakeFirstOrThrow();
  const total = Number(counted.n);
  const rows = await historyQuery(db, f)
    .selectAll()
    .orderBy("created_at", "desc")
    .orderBy("id", "desc")
    .limit(limit)
    .offset((page - 1) * limit)
    .execute();
  const totalPages = Math.ceil(total / limit);
  return {
    events: rows.map(toHistoryEntry),
    pagination: {
      current_page: page,
      page_size: limit,
      total_pages: totalPages,
      total_items: total,
      has_next: page < totalPages,
      has_prev: page > 1,
    },
    summary: { total_events: total },
  };
}
