// The string unions of webhook delivery, in one place: every webhook event tapedeck can send (names
// from the 100ms reference, section 8) and the delivery states of an outbox row. They live here, below
// db/, so the `webhook_events` table (db/schema.ts) is typed with them; the envelope that carries an
// event and the rules of delivery are in webhooks/.

/**
 * 100ms's analytics events (track events and error events): listed by `GET /v2/analytics/events`, never
 * sent to a webhook endpoint (100ms delivers them by that API only), not in the delivery log, not replayed.
 */
export const ANALYTICS_ONLY_EVENT_TYPES = [
  "track.add.success",
  "track.update.success",
  "track.remove.success",
  "client.publish.failed",
  "client.subscribe.failed",
  "client.join.failed",
  "client.disconnected",
  "client.connect.failed",
] as const;

export const WEBHOOK_EVENT_TYPES = [
  "session.open.success",
  "session.close.success",
  "peer.join.success",
  "peer.leave.success",
  "beam.started.success",
  "beam.stopped.success",
  "beam.recording.success",
  "beam.failure",
  "recording.success",
  "recording.failed",
  "track.recording.started.success",
  "track.recording.success",
  "track.recording.failure",
  "stream.recording.success",
  "stream.recording.failure",
  "hls.started.success",
  "hls.stopped.success",
  "hls.recording.success",
  "hls.failure",
  // tapedeck's names for an external stream's (RTMP out) lifecycle; 100ms sends beam.* with `rtmp` for it
  // (see recorders/rtmp/rtmp-recorder.ts). A recorded stream's MP4 still comes as beam.recording.success.
  "rtmp.started.success",
  "rtmp.stopped.success",
  "rtmp.failure",
  // tapedeck's: a session composed again from its recorded tracks (POST /v2/sessions/:id/compose) is
  // uploaded, or failed (recorders/compose/).
  "compose.success",
  "compose.failure",
  "transcription.started.success",
  "transcription.success",
  "transcription.failure",
  // Analytics events: in the event log, never delivered as webhooks.
  ...ANALYTICS_ONLY_EVENT_TYPES,
  // tapedeck's addition: sent on request (POST /v2/webhooks/test, the dashboard's "Send a test event") to
  // check an endpoint, through the same signed, durable outbox as every other event.
  "webhook.test",
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export const isWebhookEventType = (s: unknown): s is WebhookEventType =>
  typeof s === "string" && (WEBHOOK_EVENT_TYPES as readonly string[]).includes(s);

/** Delivery states of an outbox row. `replaying` = queued again by the replay endpoint, due now. */
export const WEBHOOK_STATES = ["pending", "replaying", "delivered", "failed", "no_endpoint"] as const;
export type WebhookState = (typeof WEBHOOK_STATES)[number];

export type AnalyticsOnlyEventType = (typeof ANALYTICS_ONLY_EVENT_TYPES)[number];

export const isAnalyticsOnly = (t: WebhookEventType): t is AnalyticsOnlyEventType =>
  (ANALYTICS_ONLY_EVENT_TYPES as readonly string[]).includes(t);

/** The event types a webhook endpoint receives (all but the analytics-only ones); a tuple, for z.enum. */
export const DELIVERED_EVENT_TYPES = WEBHOOK_EVENT_TYPES.filter((t) => !isAnalyticsOnly(t)) as [WebhookEventType, ...WebhookEventType[]];
