import type { Kysely } from "kysely";
import type { AppIdentity } from "../config/identity.ts";
import type { SecretBox } from "../crypto/secret-box.ts";
import type { Database } from "../db/schema.ts";
import { randomBytes } from "node:crypto";
import { isAnalyticsOnly, type WebhookEventType } from "../domain/webhook-types.ts";
import { envelopeVersion, type WebhookEnvelope } from "./events.ts";
import { resolveEndpoint, sealHeaders } from "./webhook-config.ts";

// The transactional outbox: the code that changes state calls `enqueue(trx, …)` inside its own
// transaction, so the event exists exactly when the change does. The envelope is serialised once
// here and never again: `body` holds the bytes that are delivered and signed on every attempt.

export interface EnqueueInput {
  type: WebhookEventType;
  data: Record<string, unknown>;
  /** The room the event is about, as stored (`rooms.webhook` is JSON `{url, headers}` or null). */
  room?: { id: string; webhook: string | null };
  /** Top-level `template_id`; defaults to `data.template_id` when that is a string. */
  templateId?: string;
}

export class WebhookOutbox {
  private readonly identity: AppIdentity;
  private readonly box: SecretBox;
  private readonly listeners = new Set<(eventId: string | null) => void>();

  constructor(deps: { identity: AppIdentity; box: SecretBox }) {
    this.identity = deps.identity;
    this.box = deps.box;
  }

  /**
   * Writes the event with the caller's transaction (or db) and returns its id. The endpoint is
   * resolved now: the room's webhook if set, else the app webhook if enabled, else none (state
   * `no_endpoint`: kept for the events log, never delivered unless replayed).
   */
  async enqueue(trx: Kysely<Database>, input: EnqueueInput): Promise<string> {
    const nowMs = Date.now();
    const id = newEventId(nowMs);
    const timestamp = new Date(nowMs).toISOString();
    const templateId = input.templateId ?? (typeof input.data.template_id === "string" ? input.data.template_id : undefined);
    const envelope: WebhookEnvelope = {
      version: envelopeVersion(input.type),
      id,
      app_id: this.identity.appId,
      account_id: this.identity.customerId,
      ...(templateId !== undefined ? { template_id: templateId } : {}),
      timestamp,
      type: input.type,
      data: input.data,
    };
    // Analytics events (track.*, client.*) are only logged: 100ms never sends them to a webhook.
    const endpoint = isAnalyticsOnly(input.type) ? null : await resolveEndpoint(trx, this.box, input.room);
    const roomId = input.room?.id ?? (typeof input.data.room_id === "string" ? input.data.room_id : null);
    await trx
      .insertInto("webhook_events")
      .values({
        id,
        type: input.type,
        room_id: roomId,
        body: JSON.stringify(envelope),
        url: endpoint?.url ?? null,
        headers: endpoint ? sealHeaders(endpoint.headers, this.box) : null,
        state: endpoint ? "pending" : "no_endpoint",
        attempts: 0,
        next_attempt_at: timestamp,
        locked_until: null,
        last_error: null,
        last_status: null,
        created_at: timestamp,
        delivered_at: null,
        ...eventFilterColumns(input.data),
      })
      .execute();
    if (endpoint) for (const l of this.listeners) setImmediate(l, id);
    return id;
  }

  /**
   * Called (soon, asynchronously) after each deliverable event is written, e.g. to kick the
   * dispatcher. The notification may arrive before the caller's transaction commits; the
   * dispatcher's poll picks up what it missed. Returns an unsubscribe function.
   */
  onEnqueued(listener: (eventId: string | null) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Events were written by another process (an SFU shard shares the database): tell the listeners, without an id. */
  writtenElsewhere(): void {
    for (const l of this.listeners) setImmediate(l, null);
  }
}

/** The event log's filter columns (GET /v2/analytics/events) of an event, from its data. */
export function eventFilterColumns(data: Record<string, unknown>) {
  const str = (v: unknown) => (typeof v === "string" && v !== "" ? v.slice(0, 200) : null);
  return { session_id: str(data.session_id), peer_id: str(data.peer_id), user_id: str(data.user_id), beam_id: str(data.beam_id) };
}

// Event ids are UUIDv7 (RFC 9562): random enough to be unique everywhere, and ordered by creation
// (a counter orders ids made in the same millisecond by this process), so the log has a stable order.
let lastMs = 0;
let seq = 0;

export function newEventId(nowMs: number = Date.now()): string {
  if (nowMs > lastMs) {
    lastMs = nowMs;
    seq = 0;
  } else if (++seq > 0xfff) {
    lastMs++;
    seq = 0;
  }
  const b = randomBytes(16);
  b.writeUIntBE(lastMs, 0, 6);
  b[6] = 0x70 | (seq >> 8);
  b[7] = seq & 0xff;
  b[8] = 0x80 | (b[8] & 0x3f);
  const h = b.toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
