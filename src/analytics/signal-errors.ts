import { verifyAppToken } from "../auth/tokens.ts";
import type { AppIdentity } from "../config/identity.ts";
import type { Db } from "../db/database.ts";
import type { RoomRow } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { AnalyticsPeer } from "./analytics-types.ts";
import type { AnalyticsEventWriter, ErrorEventType } from "./track-events.ts";

// A signalling message the SFU refused, as 100ms's error events: a join (`client.join.failed`), a
// publish (`client.publish.failed`) or a subscribe answer (`client.subscribe.failed`). A join refused
// for its token (no room to file it under) is not written; neither is any other message's refusal.

export interface Refusal {
  /** The client message's type. */
  messageType: string;
  err: unknown;
  /** The join message, for a refused join. */
  join?: { token: string; name: string; peer_id?: string };
  /** The peer and its room, for a refusal after the join. */
  peer?: AnalyticsPeer | null;
  room?: { row: RoomRow; sessionId: string | null } | null;
}

const TYPES: Record<string, ErrorEventType> = {
  join: "client.join.failed",
  publish: "client.publish.failed",
  "subscribe-answer": "client.subscribe.failed",
};

export class SignalErrorReporter {
  constructor(private readonly deps: { writer: AnalyticsEventWriter; db: Db; identity: AppIdentity; log: Logger }) {}

  /** Writes the error event for a refused message (never throws; what cannot be attributed is skipped). */
  refused(r: Refusal): void {
    const type = TYPES[r.messageType];
    if (!type) return;
    const code = r.err instanceof AppError ? r.err.status : 500;
    const message = r.err instanceof Error ? r.err.message : String(r.err);
    const description = r.err instanceof AppError && r.err.details.length ? r.err.details.join("; ") : message;
    // The signalling frame's reason (e.g. `room_full`, a SignalError's), else the API's.
    const name = r.err instanceof AppError ? ((r.err as AppError & { frameReason?: string }).frameReason ?? r.err.reason) : "internal";
    const base = { type, code, name, message, description, terminal: true };
    if (r.peer && r.room) {
      const { identity } = r.peer;
      this.deps.writer.error({
        ...base,
        room: r.room.row,
        sessionId: r.room.sessionId,
        peer: { id: r.peer.id, name: identity.name, role: identity.role, userId: identity.userId },
      });
      return;
    }
    if (type === "client.join.failed" && r.join) void this.joinRefused(r.join, base);
  }

  private async joinRefused(
    join: NonNullable<Refusal["join"]>,
    base: { type: ErrorEventType; code: number; name: string; message: string; description: string; terminal: boolean },
  ): Promise<void> {
    try {
      const claims = await verifyAppToken(this.deps.identity, join.token).catch(() => null);
      if (!claims) return;
      const row = await this.deps.db.selectFrom("rooms").selectAll().where("id", "=", claims.room_id).executeTakeFirst();
      if (!row) return;
      const session = await this.deps.db
        .selectFrom("sessions")
        .select("id")
        .where("room_id", "=", row.id)
        .where("active", "=", 1)
        .executeTakeFirst();
      this.deps.writer.error({
        ...base,
        room: row,
        sessionId: session?.id ?? null,
        peer: { id: join.peer_id ?? "", name: join.name, role: claims.role, userId: claims.user_id ?? "" },
      });
    } catch (err) {
      this.deps.log.warn({ err }, "could not write client.join.failed");
    }
  }
}
