import { localNode } from "../config/local-node.ts";
import fs from "node:fs";
import type { AppContext } from "../app-context.ts";
import type { RoomRow } from "../db/schema.ts";
import { newObjectId, newUuid, nowIso } from "../ids.ts";
import {
  anyRecording,
  closeSfuRecording,
  openSfuRecording,
  sessionRecording,
  type SfuRecordingOptions,
  type SfuRecordingRef,
} from "../recorders/sfu/sfu-recording.ts";

// Persists what happens in live rooms: sessions, peers, chat. Each state change and the webhook it
// causes are written in one transaction (outbox), so no event is lost and none is sent for a change
// that did not happen.

export const LEAVE_REASONS = [
  "client request",
  "peer kicked",
  "websocket closed",
  "ice connection state closed",
  "server removed peer",
] as const;
export type LeaveReason = (typeof LEAVE_REASONS)[number];

type Ctx = Pick<AppContext, "db" | "outbox" | "identity" | "log">;

export interface JoiningPeer {
  id: string;
  name: string;
  role: string;
  userId: string;
  userData: string;
}

export interface SessionRef {
  sessionId: string;
  startedAt: string;
  /** When the peer joined, as its row and its peer.join.success webhook say. */
  joinedAt: string;
  /** The session's SFU recording, when the room recorded at the session's start. */
  recording: SfuRecordingRef | null;
}

export interface ChatRecord {
  roomId: string;
  sessionId: string;
  sender: { peerId: string; name: string; userId: string; role: string };
  roles: string[];
  toPeerId?: string;
  message: string;
  sentAt: string;
}

const roomRef = (room: RoomRow) => ({ id: room.id, webhook: room.webhook });
const seconds = (from: string, to: string) => Math.max(0, Math.round((Date.parse(to) - Date.parse(from)) / 1000));

export class SessionStore {
  constructor(private readonly ctx: Ctx) {}

  /**
   * Adds a peer to the room's open session, opening one if there is none; a new session whose room
   * records (`recording`) opens its SFU recording in the same transaction.
   */
  async addPeer(room: RoomRow, peer: JoiningPeer, recording?: SfuRecordingOptions): Promise<SessionRef> {
    return this.ctx.db.transaction().execute(async (trx) => {
      const now = nowIso();
      let session = await trx
        .selectFrom("sessions")
        .select(["id", "created_at"])
        .where("room_id", "=", room.id)
        .where("active", "=", 1)
        .executeTakeFirst();
      let rec: SfuRecordingRef | null = null;
      if (session) rec = await sessionRecording(trx, session.id);
      else {
        session = { id: newObjectId(), created_at: now };
        await trx
          .insertInto("sessions")
          .values({
            id: session.id,
            room_id: room.id,
            customer_id: room.customer_id,
            app_id: room.app_id,
            active: 1,
            created_at: now,
            updated_at: now,
            ended_at: null,
          })
          .execute();
        await this.ctx.outbox.enqueue(trx, {
          type: "session.open.success",
          room: roomRef(room),
          data: { room_id: room.id, room_name: room.name, session_id: session.id, template_id: room.template_id, session_started_at: now },
        });
        if (recording && anyRecording(recording.settings))
          rec = await openSfuRecording(trx, room, { id: session.id, startedAt: now }, recording);
      }
      await trx
        .insertInto("peers")
        .values({
          id: peer.id,
          session_id: session.id,
          room_id: room.id,
          name: peer.name,
          role: peer.role,
          user_id: peer.userId,
          user_data: peer.userData,
          joined_at: now,
          left_at: null,
          leave_reason: null,
          node_id: localNode(),
        })
        .execute();
      await this.ctx.outbox.enqueue(trx, {
        type: "peer.join.success",
        room: roomRef(room),
        data: {
          room_id: room.id,
          room_name: room.name,
          session_id: session.id,
          peer_id: peer.id,
          user_id: peer.userId,
          template_id: room.template_id,
          user_name: peer.name,
          user_data: peer.userData,
          role: peer.role,
          joined_at: now,
          session_started_at: session.created_at,
          type: "regular",
        },
      });
      return { sessionId: session.id, startedAt: session.created_at, joinedAt: now, recording: rec };
    });
  }

  /**
   * Marks a peer gone (at `at`, default now); closes the session when it was the last one. Returns true
   * if the session closed.
   */
  async removePeer(room: RoomRow, peerId: string, reason: LeaveReason, message = "", at?: string): Promise<boolean> {
    return this.ctx.db.transaction().execute(async (trx) => {
      const peer = await trx.selectFrom("peers").selectAll().where("id", "=", peerId).executeTakeFirst();
      if (!peer || peer.left_at) return false;
      const session = await trx.selectFrom("sessions").selectAll().where("id", "=", peer.session_id).executeTakeFirstOrThrow();
      const now = at ? (at > peer.joined_at ? at : peer.joined_at) : nowIso();
      await trx.updateTable("peers").set({ left_at: now, leave_reason: reason }).where("id", "=", peerId).execute();
      await this.ctx.outbox.enqueue(trx, {
        type: "peer.leave.success",
        room: roomRef(room),
        data: {
          room_id: room.id,
          room_name: room.name,
          session_id: session.id,
          peer_id: peer.id,
          user_id: peer.user_id,
          template_id: room.template_id,
          user_name: peer.name,
          user_data: peer.user_data,
          role: peer.role,
          joined_at: peer.joined_at,
          session_started_at: session.created_at,
          type: "regular",
          left_at: now,
          duration: seconds(peer.joined_at, now),
          reason,
          message,
        },
      });
      const remaining = await trx
        .selectFrom("peers")
        .select("id")
        .where("session_id", "=", session.id)
        .where("left_at", "is", null)
        .executeTakeFirst();
      if (remaining) return false;
      const lastLeft = await trx
        .selectFrom("peers")
        .select("left_at")
        .where("session_id", "=", session.id)
        .orderBy("left_at", "desc")
        .executeTakeFirst();
      const endedAt = lastLeft?.left_at && lastLeft.left_at > now ? lastLeft.left_at : now;
      await trx.updateTable("sessions").set({ active: 0, ended_at: endedAt, updated_at: nowIso() }).where("id", "=", session.id).execute();
      await closeSfuRecording(trx, session.id, endedAt);
      await this.ctx.outbox.enqueue(trx, {
        type: "session.close.success",
        room: roomRef(room),
        data: {
          room_id: room.id,
          room_name: room.name,
          session_id: session.id,
          template_id: room.template_id,
          session_started_at: session.created_at,
          session_stopped_at: endedAt,
          session_duration: seconds(session.created_at, endedAt),
        },
      });
      return true;
    });
  }

  /**
   * A present peer's name, role or metadata changed (update-peer, a role change, the active-rooms API):
   * its row follows, so the sessions API and its peer-left webhook say what it is now.
   */
  async updatePeer(peerId: string, change: { name: string; role: string; userData: string }): Promise<void> {
    await this.ctx.db
      .updateTable("peers")
      .set({ name: change.name, role: change.role, user_data: change.userData })
      .where("id", "=", peerId)
      .where("left_at", "is", null)
      .execute();
  }

  /** When the peer's recorded track files were last written, if it has any still marked recording. */
  private async lastWritten(peerId: string): Promise<string | undefined> {
    const files = await this.ctx.db
      .selectFrom("recorded_tracks")
      .select("file")
      .where("peer_id", "=", peerId)
      .where("state", "=", "recording")
      .execute();
    const times = files.map((f) => (fs.existsSync(f.file) ? fs.statSync(f.file).mtimeMs : 0)).filter((t) => t > 0);
    return times.length ? new Date(Math.max(...times)).toISOString() : undefined;
  }

  async saveChat(c: ChatRecord): Promise<string> {
    const id = newUuid();
    await this.ctx.db
      .insertInto("chat_messages")
      .values({
        id,
        room_id: c.roomId,
        session_id: c.sessionId,
        sender_peer_id: c.sender.peerId,
        sender_name: c.sender.name,
        sender_user_id: c.sender.userId,
        sender_role: c.sender.role,
        roles: JSON.stringify(c.roles),
        to_peer_id: c.toPeerId ?? null,
        message: c.message,
        sent_at: c.sentAt,
      })
      .execute();
    return id;
  }

  /**
   * After a crash of the process that held them, peers still marked present are not: remove them
   * (reason "server removed peer"), which also closes their sessions with the usual webhooks. A peer
   * whose tracks were being recorded left when its files were last written (so a recording does not
   * run on through the downtime); any other, now.
   */
  async removeOrphanPeers(roomIds?: string[], o: { node?: string | null } = {}): Promise<number> {
    let q = this.ctx.db.selectFrom("peers").select(["id", "room_id"]).where("left_at", "is", null);
    if (roomIds) q = q.where("room_id", "in", roomIds.length ? roomIds : [""]);
    // In a cluster, only the peers that were connected to the node that stopped (this one, or a dead one).
    const node = o.node === undefined ? localNode() : o.node;
    if (node) q = q.where("node_id", "=", node);
    const orphans = await q.execute();
    for (const o of orphans) {
      const room = await this.ctx.db.selectFrom("rooms").selectAll().where("id", "=", o.room_id).executeTakeFirst();
      if (room) await this.removePeer(room, o.id, "server removed peer", "the SFU holding this peer stopped", await this.lastWritten(o.id));
    }
    if (orphans.length) this.ctx.log.warn({ count: orphans.length }, "removed peers left over from a previous run");
    return orphans.length;
  }
}
