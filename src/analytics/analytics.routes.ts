import { z } from "zod";
import type { V2Routes } from "../api/server.ts";
import { parseBody, parseParams, parseQuery, queryBool, queryTime } from "../api/validation.ts";
import { AppError } from "../errors.ts";
import { DELIVERED_EVENT_TYPES, WEBHOOK_EVENT_TYPES, type WebhookEventType } from "../domain/webhook-types.ts";
import { listEventLog } from "./event-log.ts";
import { renderPeerStats, type StoredPeerStats } from "./quality-series.ts";
import { HISTORY_STATUSES, listHistory, timeRange } from "./webhook-history.ts";
import { replayStatus, startReplay } from "./webhook-replay.ts";

// 100ms's analytics API (management-token auth is done by the caller):
//   GET  /analytics/events                      the event log: {limit, total, next, events} (event-log.ts)
//   GET  /analytics/peer-stats                  a peer's quality time series in a session (quality-series.ts)
//   GET  /analytics/webhooks                    delivery history by time range and status (webhook-history.ts)
//   POST /analytics/webhooks/replay             replay by time range (webhook-replay.ts)
//   GET  /analytics/webhooks/replay/:workflow_id  its progress
// A filter this API does not know, or a value it does not accept, is a 400 naming it: never ignored.

const id = (name: string) =>
  z
    .string({ error: `${name} must be given once` })
    .min(1, `${name} must not be empty`)
    .max(64, `${name} must be at most 64 characters`);

/** A parameter that may be given several times (`type=a&type=b`), each value one of `values`. */
const many = (values: readonly [WebhookEventType, ...WebhookEventType[]], name: string) =>
  z.preprocess(
    (v) => (v === undefined ? undefined : [v].flat()),
    z.array(z.enum(values, { error: `${name} must be one of ${values.join(", ")}` })).optional(),
  );

const limit = (max: number, dflt: number) =>
  z.coerce
    .number({ error: "limit must be a number" })
    .int("limit must be a whole number")
    .min(1, `limit must be between 1 and ${max}`)
    .max(max, `limit must be between 1 and ${max}`)
    .default(dflt);

const eventsQuery = z.object({
  room_id: id("room_id").optional(),
  type: many(WEBHOOK_EVENT_TYPES, "type"),
  session_id: id("session_id").optional(),
  peer_id: id("peer_id").optional(),
  user_id: id("user_id").max(200).optional(),
  beam_id: id("beam_id").optional(),
  error: queryBool.optional(),
  limit: limit(100, 10),
  start: z.string({ error: "start must be given once" }).max(100, "start must be the `next` of a previous answer").optional(),
});

const peerStatsQuery = z.object({ peer_id: id("peer_id"), session_id: id("session_id") });

const historyQuery = z.object({
  start_time: queryTime.optional(),
  end_time: queryTime.optional(),
  room_id: id("room_id").optional(),
  status: z.enum(HISTORY_STATUSES, { error: `status must be one of ${HISTORY_STATUSES.join(", ")}` }).default("all"),
  event_names: many(DELIVERED_EVENT_TYPES, "event_names"),
  limit: limit(100, 50),
  page: z.coerce.number({ error: "page must be a number" }).int("page must be a whole number").min(1, "page must be 1 or more").default(1),
});

const replayBody = z.strictObject({
  start_time: queryTime.optional(),
  end_time: queryTime.optional(),
  room_id: id("room_id").optional(),
  event_names: z.array(z.enum(DELIVERED_EVENT_TYPES, { error: `must be one of ${DELIVERED_EVENT_TYPES.join(", ")}` })).optional(),
  limit: z.number().int().min(1, "limit must be between 1 and 50000").max(50_000, "limit must be between 1 and 50000").default(50_000),
  offset: z.number().int().min(0, "offset must be 0 or more").default(0),
  status: z.enum(HISTORY_STATUSES, { error: `status must be one of ${HISTORY_STATUSES.join(", ")}` }).default("failed"),
});

const workflowParams = z.object({ workflow_id: z.string().min(1).max(100) });

/** Refuses a query parameter `schema` does not name, listing those it does. */
function knownFilters(query: unknown, schema: z.ZodObject): void {
  const allowed = Object.keys(schema.shape);
  const unknown = Object.keys((query as Record<string, unknown>) ?? {}).filter((k) => !allowed.includes(k));
  if (unknown.length)
    throw new AppError("invalid_query", `Invalid query parameter: unknown filter ${JSON.stringify(unknown[0])}`, {
      details: unknown.map((k) => `${k}: not a filter of this list; the filters are ${allowed.join(", ")}`),
    });
}

const query = <S extends z.ZodObject>(schema: S, q: unknown): z.infer<S> => {
  knownFilters(q, schema);
  return parseQuery(schema, q);
};

export const analyticsRoutes: V2Routes = (v2, ctx) => {
  v2.get("/analytics/events", async (req) => {
    const q = query(eventsQuery, req.query);
    return listEventLog(ctx.db, { ...q, types: q.type });
  });

  v2.get("/analytics/peer-stats", async (req) => {
    const q = query(peerStatsQuery, req.query);
    const row = await ctx.db
      .selectFrom("peer_stats")
      .select(["stats"])
      .where("session_id", "=", q.session_id)
      .where("peer_id", "=", q.peer_id)
      .executeTakeFirst();
    if (row) return renderPeerStats(q.peer_id, q.session_id, JSON.parse(row.stats) as StoredPeerStats);
    const peer = await ctx.db
      .selectFrom("peers")
      .select(["room_id"])
      .where("id", "=", q.peer_id)
      .where("session_id", "=", q.session_id)
      .executeTakeFirst();
    if (!peer) throw new AppError("not_found", "peer not found", { details: [`no peer ${q.peer_id} in session ${q.session_id}`] });
    // A peer with no media measured (it published and received nothing, or left within seconds).
    return renderPeerStats(q.peer_id, q.session_id, { room_id: peer.room_id, publisher: [], subscriber: [] });
  });

  v2.get("/analytics/webhooks", async (req) => {
    const q = query(historyQuery, req.query);
    const range = timeRange(
      q.start_time ? new Date(q.start_time) : undefined,
      q.end_time ? new Date(q.end_time) : undefined,
      "invalid_query",
    );
    return listHistory(ctx.db, { range, room_id: q.room_id, status: q.status, event_names: q.event_names }, q.page, q.limit);
  });

  v2.post("/analytics/webhooks/replay", async (req) => {
    const b = parseBody(replayBody, req.body ?? {});
    const range = timeRange(
      b.start_time ? new Date(b.start_time) : undefined,
      b.end_time ? new Date(b.end_time) : undefined,
      "invalid_body",
    );
    const answer = await startReplay(
      { db: ctx.db, box: ctx.box, identity: ctx.identity, log: ctx.log },
      { range, room_id: b.room_id, status: b.status, event_names: b.event_names, limit: b.limit, offset: b.offset },
    );
    ctx.dispatcher.kick();
    return answer;
  });

  v2.get("/analytics/webhooks/replay/:workflow_id", async (req) => {
    const { workflow_id } = parseParams(workflowParams, req.params);
    return replayStatus(ctx.db, workflow_id);
  });
};
