import type { Db } from "../db/database.ts";
import type { RoomRow } from "../db/schema.ts";
import type { WebhookEventType } from "../domain/webhook-types.ts";
import type { Logger } from "../log.ts";
import type { WebhookOutbox } from "../webhooks/outbox.ts";
import { type AnalyticsPeer, type AnalyticsTrackInfo, hmsSource } from "./analytics-types.ts";

// 100ms's analytics events, written by the SFU into the event log (the outbox, as analytics-only events:
// never delivered to a webhook, as 100ms delivers them by GET /v2/analytics/events only):
// - track events (`track.add.success`, `track.update.success` on mute/unmute, `track.remove.success`),
//   with the keys of 100ms's track event object;
// - error events (`client.join.failed`, `client.publish.failed`, `client.subscribe.failed`,
//   `client.disconnected`), from what the SFU sees: a refused join, publish or subscribe answer, a peer
//   whose connection was lost. 100ms's clients report these themselves; tapedeck's SFU reports them for
//   every client. `client.connect.failed` (a client that never reached the service) cannot be seen by
//   the SFU and is never written.
// Writes are queued one after another, so a track's events are in the log in the order they happened.

export type ErrorEventType = "client.join.failed" | "client.publish.failed" | "client.subscribe.failed" | "client.disconnected";

/** The signalling action an error event happened in (100ms's `action`). */
const ACTIONS: Record<ErrorEventType, string> = {
  "client.join.failed": "JOIN",
  "client.publish.failed": "PUBLISH",
  "client.subscribe.failed": "SUBSCRIBE",
  "client.disconnected": "RECONNECT_SIGNAL",
};

export interface ErrorEventInput {
  type: ErrorEventType;
  room: Pick<RoomRow, "id" | "name" | "template_id" | "webhook">;
  sessionId: string | null;
  peer: { id: string; name: string; role: string; userId: string };
  /** The status the SFU refused with (4xx, 5xx); for a lost connection, 100ms's code for its kind (1003, 4006). */
  code: number;
  /** A stable name (the signalling error reason, e.g. `room_full`, or `WebSocketConnectionLost`). */
  name: string;
  message: string;
  description: string;
  /** Was this the end of it (the peer is gone), or may the client still recover (a reconnect window)? */
  terminal: boolean;
}

export class AnalyticsEventWriter {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: { db: Db; outbox: WebhookOutbox; log: Logger; accountId: string }) {}

  /** A track event for `track` of `peer` in the room's open session. */
  track(
    type: "track.add.success" | "track.update.success" | "track.remove.success",
    ctx: { room: RoomRow; sessionId: string; peer: AnalyticsPeer; track: AnalyticsTrackInfo; startedAt: string; stoppedAt?: string },
  ): void {
    const { room, peer, track } = ctx;
    const data: Record<string, unknown> = {
      room_id: room.id,
      session_id: ctx.sessionId,
      room_name: room.name,
      peer_id: peer.id,
      user_id: peer.identity.userId,
      user_name: peer.identity.name,
      joined_at: peer.identity.joinedAt,
      role: peer.identity.role,
      track_id: track.track_id,
      stream_id: track.stream_id,
      type: track.kind,
      source: hmsSource(track.source),
      mute: track.muted,
      started_at: ctx.startedAt,
      ...(ctx.stoppedAt ? { stopped_at: ctx.stoppedAt } : {}),
    };
    this.write(type, room, data);
  }

  /** An error event, with the keys of 100ms's error event objects (no client agent: the SFU does not know it). */
  error(e: ErrorEventInput): void {
    const data: Record<string, unknown> = {
      user_id: e.peer.userId,
      user_name: e.peer.name,
      peer_id: e.peer.id,
      account_id: this.deps.accountId,
      room_id: e.room.id,
      ...(e.sessionId ? { session_id: e.sessionId } : {}),
      room_name: e.room.name,
      template_id: e.room.template_id,
      role: e.peer.role,
      error_code: e.code,
      error_name: e.name,
      error_message: e.message,
      error_description: e.description,
      is_terminal: e.terminal,
      domain: "tapedeck",
      action: ACTIONS[e.type],
      agent: {},
    };
    this.write(e.type, e.room, data);
  }

  private write(type: WebhookEventType, room: Pick<RoomRow, "id" | "webhook">, data: Record<string, unknown>): void {
    const next = this.queue.then(() =>
      this.deps.outbox.enqueue(this.deps.db, { type, room: { id: room.id, webhook: room.webhook }, data }),
    );
    this.queue = next.catch((err) =>
      this.deps.log.error({ err, type, room_id: room.id, peer_id: data.peer_id }, "could not write an analytics event"),
    );
  }

  /** Resolves when every event asked for so far is written (tests, shutdown). */
  async flushed(): Promise<void> {
    await this.queue;
  }
}
