// Every webhook event tapedeck can send, in one place (names from the 100ms reference, section 8),
// and the envelope that carries them.

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
  "transcription.started.success",
  "transcription.success",
  "transcription.failure",
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export const isWebhookEventType = (s: unknown): s is WebhookEventType =>
  typeof s === "string" && (WEBHOOK_EVENT_TYPES as readonly string[]).includes(s);

export type EnvelopeVersion = "1.0" | "2.0";

/** 100ms sends the SFU composite events (`recording.success`, `recording.failed`) as "1.0", all others as "2.0". */
export function envelopeVersion(type: WebhookEventType): EnvelopeVersion {
  return type === "recording.success" || type === "recording.failed" ? "1.0" : "2.0";
}

/** The JSON body of every delivery; keys in the order of the reference. */
export interface WebhookEnvelope {
  version: EnvelopeVersion;
  /** UUID; the same on every attempt and replay, so receivers dedupe by it. */
  id: string;
  app_id: string;
  account_id: string;
  template_id?: string;
  /** ISO-8601 UTC. */
  timestamp: string;
  type: WebhookEventType;
  data: Record<string, unknown>;
}

/** Delivery states of an outbox row. `replaying` = queued again by the replay endpoint, due now. */
export const WEBHOOK_STATES = ["pending", "replaying", "delivered", "failed", "no_endpoint"] as const;
export type WebhookState = (typeof WEBHOOK_STATES)[number];

/** States the dispatcher picks up when `next_attempt_at` has come. */
export const DUE_STATES: WebhookState[] = ["pending", "replaying"];
