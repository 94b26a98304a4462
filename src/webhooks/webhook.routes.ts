import { z } from "zod";
import type { V2Routes } from "../api/server.ts";
import { pageQuery, toPage } from "../api/pagination.ts";
import { objectIdParam, parseBody, parseParams, parseQuery } from "../api/validation.ts";
import { AppError, notFound } from "../errors.ts";
import { outboundPolicy } from "../net/outbound-policy.ts";
import { DELIVERED_EVENT_TYPES, isAnalyticsOnly, WEBHOOK_STATES } from "../domain/webhook-types.ts";
import {
  deleteAppWebhookConfig,
  getAppWebhookConfig,
  resolveEndpoint,
  setAppWebhookConfig,
  webhookHeadersSchema,
  webhookUrlSchema,
} from "./webhook-config.ts";
import { getEventWithAttempts, listEvents, queueReplay, toAttemptEntry, toEnvelope, toLogEntry } from "./webhook-log.ts";

// /v2 routes for webhooks (management-token auth is done by the caller), all tapedeck additions (100ms's
// own delivery history, replay by time range and event log are at /v2/analytics, in analytics/):
//   GET/POST/DELETE /webhooks/config         app-level endpoint (100ms uses its dashboard)
//   GET  /webhooks/deliveries                delivery log: every state, attempts (`order=desc`: newest first)
//   GET  /webhooks/deliveries/:event_id      one event: envelope and attempt log
//   POST /webhooks/deliveries/replay         deliver events again, by id
//   POST /webhooks/test                      send a `webhook.test` event now, through the outbox
//   GET  /webhooks/event-types               the event types and delivery states (the dashboard's filters)
// Analytics-only events (track.*, client.*) are never delivered, so they are in none of these.

const configBody = z.object({
  url: webhookUrlSchema,
  headers: webhookHeadersSchema.optional(),
  enabled: z.boolean().optional(),
});

const logQuery = z.object({
  type: z.enum(DELIVERED_EVENT_TYPES, { error: `must be one of ${DELIVERED_EVENT_TYPES.join(", ")}` }).optional(),
  room_id: z.string().min(1).max(64).optional(),
  state: z.enum(WEBHOOK_STATES, { error: `must be one of ${WEBHOOK_STATES.join(", ")}` }).optional(),
  ...pageQuery,
});

const eventIdParams = z.object({ event_id: z.string().min(1).max(64) });

const replayBody = z.object({
  event_ids: z.array(z.string().min(1).max(64)).min(1, "give at least one event id").max(100, "at most 100 event ids per request"),
});

const testBody = z.strictObject({
  /** Put into the event's data, to tell test events apart. */
  message: z.string().max(500, "must be at most 500 characters").optional(),
  /** Send to this room's webhook (when it has one; else the app's), and name the room in the event. */
  room_id: objectIdParam("room_id").optional(),
});

export const webhookRoutes: V2Routes = (v2, ctx) => {
  const renderConfig = (c: { url: string | null; headers: Record<string, string>; enabled: boolean }) => ({
    url: c.url,
    headers: c.headers,
    enabled: c.enabled,
    signing_secret: ctx.identity.webhookSecret,
  });

  v2.get("/webhooks/config", async () => {
    const c = await getAppWebhookConfig(ctx.db, ctx.box);
    return renderConfig(c ?? { url: null, headers: {}, enabled: false });
  });

  v2.post("/webhooks/config", async (req) => {
    const body = parseBody(configBody, req.body);
    // Literal refused addresses and names that resolve to one now; delivery checks again every attempt.
    await outboundPolicy(ctx.config.outbound).checkUrl(body.url, "webhook URL");
    const saved = await setAppWebhookConfig(ctx.db, ctx.box, { url: body.url, headers: body.headers ?? {}, enabled: body.enabled ?? true });
    ctx.log.info({ component: "webhooks", host: new URL(saved.url).host, enabled: saved.enabled }, "app webhook configured");
    return renderConfig(saved);
  });

  v2.delete("/webhooks/config", async () => {
    const removed = await deleteAppWebhookConfig(ctx.db);
    if (removed)
      ctx.log.info({ component: "webhooks" }, "app webhook removed: events of rooms without their own webhook are logged as no_endpoint");
    return renderConfig({ url: null, headers: {}, enabled: false });
  });

  v2.get("/webhooks/deliveries", async (req) => {
    const q = parseQuery(logQuery, req.query);
    const rows = await listEvents(ctx.db, { ...q, deliveredOnly: true });
    return toPage(rows, q.limit, toLogEntry);
  });

  v2.get("/webhooks/deliveries/:event_id", async (req) => {
    const { event_id } = parseParams(eventIdParams, req.params);
    const found = await getEventWithAttempts(ctx.db, event_id);
    if (!found || isAnalyticsOnly(found.event.type)) throw notFound("webhook event", event_id);
    return { ...toLogEntry(found.event), envelope: toEnvelope(found.event), attempt_log: found.attempts.map(toAttemptEntry) };
  });

  v2.post("/webhooks/deliveries/replay", async (req) => {
    const { event_ids } = parseBody(replayBody, req.body);
    const queued = await queueReplay(ctx.db, ctx.box, event_ids);
    ctx.dispatcher.kick();
    return { data: queued.map((q) => ({ id: q.id, state: "replaying", url: q.url })) };
  });

  // Not a list: it takes no query parameter, and says so for any.
  v2.get("/webhooks/event-types", async (req) => {
    parseQuery(z.strictObject({}), req.query);
    return { event_types: [...DELIVERED_EVENT_TYPES], states: [...WEBHOOK_STATES] };
  });

  // A test event, written and delivered like any other (signed, retried, in the log), so its row in the
  // delivery log says whether the endpoint works. Refused when it would go nowhere.
  v2.post("/webhooks/test", async (req) => {
    const body = parseBody(testBody, req.body ?? {});
    const room = body.room_id
      ? await ctx.db.selectFrom("rooms").select(["id", "name", "webhook"]).where("id", "=", body.room_id).executeTakeFirst()
      : null;
    if (body.room_id && !room) throw notFound("room", body.room_id);
    const endpoint = await resolveEndpoint(ctx.db, ctx.box, room);
    if (!endpoint)
      throw new AppError("conflict", "No webhook endpoint is configured", {
        details: [
          (await getAppWebhookConfig(ctx.db, ctx.box))
            ? "the app webhook is turned off: turn it on (POST /v2/webhooks/config with enabled: true) to send events"
            : "set the app webhook first (POST /v2/webhooks/config {url}), or give a room_id whose room has its own webhook",
        ],
      });
    const id = await ctx.db.transaction().execute((trx) =>
      ctx.outbox.enqueue(trx, {
        type: "webhook.test",
        room: room ? { id: room.id, webhook: room.webhook } : undefined,
        data: {
          message: body.message ?? "A test event from tapedeck: this endpoint receives its webhooks.",
          ...(room ? { room_id: room.id, room_name: room.name } : {}),
          requested_at: new Date().toISOString(),
        },
      }),
    );
    ctx.dispatcher.kick();
    req.log.info({ event_id: id, host: new URL(endpoint.url).host }, "webhook test event queued");
    return { id, type: "webhook.test", state: "pending", url: endpoint.url };
  });
};
