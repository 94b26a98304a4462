import type { WebhookEventType, WebhookState } from "../domain/webhook-types.ts";

// The envelope that carries every webhook event tapedeck sends, and which outbox rows the dispatcher
// picks up. The event names and the delivery states are in domain/webhook-types.ts.

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

/** States the dispatcher picks up when `next_attempt_at` has come. */
export const DUE_STATES: WebhookState[] = ["pending", "replaying"];
