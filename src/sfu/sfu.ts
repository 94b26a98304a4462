import type {
  LivePeer,
  LiveRoom,
  PeerChange,
  PeerTarget,
  RoomCall,
  ServerLeaveReason,
  ServerMessageOptions,
  SfuContext,
  SfuService,
} from "./sfu-service.ts";
import { callRoom } from "./room-calls.ts";
import { SessionComposites } from "../recorders/compositor/session-composite.ts";
import { verifyAppToken } from "../auth/tokens.ts";
import { RECORDER_ROLE } from "../domain/recording-types.ts";
import { fromBool } from "../db/database.ts";
import { AppError } from "../errors.ts";
import { newUuid, nowIso } from "../ids.ts";
import type { Logger } from "../log.ts";
import { templateParts } from "../templates/template.service.ts";
import { hasOwnKey, nullProtoCopy, ownValue } from "../util/own.ts";
import { controlCharMessage, findControlChar } from "../util/text.ts";
import { type Removal, SfuPeer } from "./peer.ts";
import { clientMessageSchema, type ClientMessage, type PublishedTrack, type ServerMessage } from "./protocol.ts";
import { SfuRoom } from "./room.ts";
import { sfuRecordingSettings } from "../templates/recording-settings.ts";
import { TrackRecordingService } from "../recorders/sfu/track-recording.service.ts";
import { CpuMeter } from "./cpu-meter.ts";
import { isLimitError, PeerLimits, STRIKE_WINDOW_MS } from "./peer-limits.ts";
import { checkPublish } from "./publish-check.ts";
import { frameReasonOf, SignalError } from "./signal-error.ts";
import { SessionStore } from "./session.store.ts";
import type { SignalSocket } from "./signal-socket.ts";
import { AnalyticsEventWriter } from "../analytics/track-events.ts";
import { SignalErrorReporter } from "../analytics/signal-errors.ts";

// The SFU: accepts signalling connections, authenticates peers with app tokens, and keeps the live
// rooms. A malformed message gets an error frame, never an exception out of a handler. A client's
// mistake is a 4xx frame logged at info; only a fault of the server is `internal` (500, logged as error).
// Messages are rate limited per connection (peer-limits.ts); a connection that floods is removed.

const JOIN_TIMEOUT_MS = 10_000;

/** The active-rooms API's 404 for a room nobody is in (no open session in the SFU). */
export const roomNotActive = (roomId: string): AppError =>
  new AppError("not_found", "room is not active", { details: [`room ${roomId} has no active session: nobody is in it`] });
const STRIKE_WINDOW_S = STRIKE_WINDOW_MS / 1000;

export class Sfu implements SfuService {
  readonly rooms = new Map<string, SfuRoom>();
  readonly store: SessionStore;
  private readonly log: Logger;
  private readonly sockets = new Set<SignalSocket>();
  /** The socket that speaks for each peer now: a resume moves a peer to a new one. */
  private readonly owners = new WeakMap<SfuPeer, SignalSocket>();
  /** Peers whose socket dropped, kept for the reconnect window: the timer that makes them leave. */
  private readonly detached = new Map<string, NodeJS.Timeout>();

  /** This process's CPU load; replaceable in tests. */
  cpu: { readonly cores: number; stop(): void };

  readonly recordings: TrackRecordingService;
  /** The composites of recorded sessions, drawn live (recorders/compositor/session-composite.ts). */
  readonly composites: SessionComposites;
  /** Track and error events into the event log (analytics/). */
  private readonly analytics: AnalyticsEventWriter;
  private readonly refusals: SignalErrorReporter;

  constructor(private readonly ctx: SfuContext) {
    this.store = new SessionStore(ctx);
    this.analytics = new AnalyticsEventWriter({ db: ctx.db, outbox: ctx.outbox, log: ctx.log, accountId: ctx.identity.customerId });
    this.refusals = new SignalErrorReporter({ writer: this.analytics, db: ctx.db, identity: ctx.identity, log: ctx.log });
    this.recordings = new TrackRecordingService(ctx, () => ctx.events.emit("jobs.queued"));
    this.composites = new SessionComposites(ctx);
    this.log = ctx.log.child({ component: "sfu" });
    this.cpu = new CpuMeter(1000, (lateMs) =>
      this.log.warn(
        { late_ms: lateMs, rooms: this.rooms.size },
        "event loop held up: media and signalling waited that long (a busy machine, or blocking work in this process)",
      ),
    );
  }

  /** Peers left marked present by a previous run are removed (their sessions close). */
  async start(): Promise<void> {
    await this.store.removeOrphanPeers();
  }

  connect(socket: SignalSocket, remote: string): void {
    this.sockets.add(socket);
    const log = this.log.child({ remote });
    let peer: SfuPeer | null = null;
    let room: SfuRoom | null = null;
    let joining = false;
    /** The join in progress: messages sent right behind it (pipelined) wait for it, then are handled. */
    let joinDone: Promise<unknown> = Promise.resolve();
    const limits = new PeerLimits(this.ctx.config.peerLimits);
    /** Set once the connection is removed for flooding: what it sends after that is ignored. */
    let flooded: string | null = null;
    const send = (msg: ServerMessage) => socket.send(JSON.stringify(msg));
    const fail = (code: number, reason: string, message: string, fatal: boolean, ref?: string, removal?: Removal) => {
      const removedBy = removal
        ? {
            ...(removal.by ? { removed_by: removal.by } : {}),
            room_ended: removal.roomEnded === true,
            removed_reason: removal.reason ?? "",
          }
        : {};
      send({ type: "error", code, reason, message, fatal, ...(ref ? { ref } : {}), ...removedBy });
      if (fatal) socket.close(4000 + Math.min(code, 999), message.slice(0, 120));
    };
    /** Too many refused messages: the peer leaves ("server removed peer"), is told why, and its socket closed. */
    const removeFlooder = (last: string) => {
      flooded = `removed for flooding: ${this.ctx.config.peerLimits.floodStrikes} messages over the limits within ${STRIKE_WINDOW_S} s (last: ${last})`;
      log.warn({ peer_id: peer?.id, room_id: room?.id }, "signalling peer removed for flooding");
      if (peer && room) void room.leave(peer, "server removed peer", "flooding").catch((err) => log.error({ err }, "leave failed"));
      else fail(429, "flooding", flooded, true);
    };
    const joinTimer = setTimeout(() => {
      if (!peer) fail(408, "join_timeout", `send {"type":"join"} within ${JOIN_TIMEOUT_MS / 1000} s`, true);
    }, JOIN_TIMEOUT_MS);
    let open = true;
    socket.onClose(() => {
      open = false;
      clearTimeout(joinTimer);
      this.sockets.delete(socket);
      if (peer && room) this.socketGone(peer, room, socket, log);
    });

    const limitExceeded = (err: AppError) => {
      if (limits.strike()) return removeFlooder(err.message);
      fail(err.status, frameReasonOf(err), err.message, false);
    };
    socket.onMessage((data) => {
      if (flooded) return;
      void (async () => {
        let msg: ClientMessage;
        try {
          limits.checkMessage();
          if (data.startsWith("\u0000")) throw new Error("binary frames are not part of the protocol");
          const raw: unknown = JSON.parse(data);
          const parsed = clientMessageSchema.safeParse(raw);
          if (!parsed.success) {
            const issue = parsed.error.issues[0];
            // The refusal carries the message's ref when it had a usable one: its sender is waiting on it.
            const rawRef = (raw as { ref?: unknown } | null)?.ref;
            const ref = typeof rawRef === "string" && rawRef.length <= 64 ? rawRef : undefined;
            return fail(400, "invalid_message", `invalid message: ${issue.path.join(".") || "(message)"}: ${issue.message}`, false, ref);
          }
          msg = parsed.data;
        } catch (err) {
          if (isLimitError(err)) return limitExceeded(err as AppError);
          return fail(400, "invalid_message", `invalid message: ${(err as Error).message}`, false);
        }
        const ref = msg.ref;
        try {
          if (msg.type === "chat") limits.checkChat(msg.message);
          if (msg.type === "publish") limits.checkPublish();
        } catch (err) {
          return limitExceeded(err as AppError);
        }
        try {
          if (msg.type === "ping") return send({ type: "pong", ...(ref ? { ref } : {}) });
          if (!peer && joining && msg.type !== "join") await joinDone.catch(() => undefined);
          if (!peer) {
            if (msg.type !== "join" && msg.type !== "resume")
              return fail(400, "not_joined", `send {"type":"join"} first (got ${msg.type})`, false, ref);
            if (joining) return fail(409, "already_joining", "join already in progress", false);
            joining = true;
            const onRemoved = (message: string, removal?: Removal) =>
              flooded ? fail(429, "flooding", flooded, true) : fail(410, "removed", message, true, undefined, removal);
            const join = msg.type === "join" ? this.join(msg, send, log, onRemoved) : this.resume(msg, send, log, onRemoved, socket);
            joinDone = join;
            const joined = await join;
            peer = joined.peer;
            room = joined.room;
            this.owners.set(peer, socket);
            clearTimeout(joinTimer);
            if (!open) this.socketGone(peer, room, socket, log);
            return;
          }
          await this.handle(peer, room!, msg);
        } catch (err) {
          this.refusals.refused({ messageType: msg.type, err, join: msg.type === "join" ? msg : undefined, peer, room });
          if (err instanceof AppError && err.status < 500) {
            const message = err.details[0] ? `${err.message}: ${err.details[0]}` : err.message;
            log.info({ peer_id: peer?.id, type: msg.type, code: err.status, message }, "signalling message refused");
            return fail(err.status, frameReasonOf(err), message, !peer, ref);
          }
          if (err instanceof AppError)
            return fail(err.status, frameReasonOf(err), err.details[0] ? `${err.message}: ${err.details[0]}` : err.message, !peer, ref);
          log.error({ err, peer_id: peer?.id, type: msg.type }, "signalling message failed");
          fail(500, "internal", `could not handle ${msg.type}: ${(err as Error).message}`, false, ref);
        } finally {
          if (!peer) joining = false;
        }
      })();
    });
  }

  private async join(
    msg: Extract<ClientMessage, { type: "join" }>,
    send: (m: ServerMessage) => void,
    log: Logger,
    onRemoved: (message: string, removal?: Removal) => void,
  ) {
    const claims = await verifyAppToken(this.ctx.identity, msg.token);
    const row = await this.ctx.db.selectFrom("rooms").selectAll().where("id", "=", claims.room_id).executeTakeFirst();
    if (!row) throw new AppError("not_found", "room not found", { details: [`no room with id ${claims.room_id}`] });
    // Said to whoever tries to join (a guest): no administrator's instructions, which are the REST API's to give.
    if (!row.enabled) throw new SignalError("forbidden", "room_closed", "This room is closed.");
    const template = await this.ctx.db.selectFrom("templates").selectAll().where("id", "=", row.template_id).executeTakeFirstOrThrow();
    // Roles are looked up as own properties only: `constructor` or `__proto__` is no role of any template.
    const roles = nullProtoCopy(templateParts(template).roles);
    // The browser recorder's hidden role needs no entry in the template: it publishes nothing and
    // receives every role (its page shows only the roles the recording asked for), whatever the template says.
    const hidden = claims.role === RECORDER_ROLE;
    if (hidden) roles[RECORDER_ROLE] = { ...ownValue(roles, RECORDER_ROLE), name: RECORDER_ROLE, publishParams: { allowed: [] } };
    if (!hasOwnKey(roles, claims.role))
      throw new AppError("forbidden", "role not in the room's template", {
        details: [`role ${claims.role} is not one of ${Object.keys(roles).join(", ")}`],
      });
    const badUserId = claims.user_id ? findControlChar(claims.user_id) : null;
    if (badUserId)
      throw new AppError("invalid_body", controlCharMessage("user_id", badUserId), {
        details: ["the app token's user_id is shown to the other peers"],
      });

    const settings = sfuRecordingSettings(row, template);
    let room = this.rooms.get(row.id);
    if (room) room.updateRoles(row, roles, settings);
    else {
      room = new SfuRoom(row, roles, settings, {
        store: this.store,
        log: this.log.child({ room_id: row.id }),
        remb: this.ctx.config.sfu.remb,
        recordings: this.recordings,
        compositeChunkMs: this.ctx.config.recording.compositeChunkMs,
        onEmpty: (r) => this.dropRoom(r),
        analytics: { writer: this.analytics, db: this.ctx.db },
        watcher: this.composites,
      });
      this.rooms.set(row.id, room);
    }
    const peerLog = log.child({ room_id: row.id });
    const theRoom = room;
    if (msg.peer_id && room.peers.has(msg.peer_id))
      throw new AppError("conflict", "a peer with this id is in the room", {
        details: [`peer_id ${msg.peer_id} is taken; join with a new one`],
      });
    const peer = new SfuPeer(
      {
        id: msg.peer_id ?? newUuid(),
        name: msg.name,
        role: claims.role,
        userId: claims.user_id ?? "",
        userData: msg.user_data ?? "",
        joinedAt: nowIso(),
        hidden,
        controlChannel: msg.control_channel,
        reconnectMs: msg.reconnect === true ? this.ctx.config.sfu.reconnectWindowMs : 0,
      },
      send,
      peerLog,
      {
        onTrack: (p, t) => theRoom.onTrack(p, t),
        onTrackEnded: (p, t) => theRoom.onTrackEnded(p, t),
        onConnectionLost: (p) => void theRoom.leave(p, "ice connection state closed"),
        onRemoved: (_p, message, removal) => onRemoved(message, removal),
      },
    );
    await room.join(peer);
    this.ctx.events.emit("peer.joined", { room: row, template, peerId: peer.id, hidden: peer.identity.hidden });
    return { peer, room };
  }

  /**
   * A peer's socket closed. It leaves, unless it joined with `reconnect`: then it stays (its media
   * goes on, the others see no change) for the reconnect window, waiting for a `resume`.
   */
  private socketGone(peer: SfuPeer, room: SfuRoom, socket: SignalSocket, log: Logger): void {
    if (this.owners.get(peer) !== socket) return; // a resume took the peer to a newer socket
    this.owners.delete(peer);
    const windowMs = peer.identity.reconnectMs;
    if (windowMs <= 0 || !room.peers.has(peer.id)) {
      void room.leave(peer, "websocket closed").catch((err) => log.error({ err }, "leave failed"));
      return;
    }
    peer.detach();
    log.info(
      { peer_id: peer.id, room_id: room.id, window_s: windowMs / 1000 },
      "signalling socket closed; the peer is kept until it reconnects",
    );
    const timer = setTimeout(() => {
      this.detached.delete(peer.id);
      if (this.owners.has(peer) || room.peers.get(peer.id) !== peer) return;
      log.info({ peer_id: peer.id, room_id: room.id }, "peer did not reconnect in time; it leaves");
      void room
        .leave(peer, "websocket closed", `did not reconnect within ${windowMs / 1000} s`)
        .catch((err) => log.error({ err }, "leave failed"));
    }, windowMs);
    timer.unref();
    this.detached.set(peer.id, timer);
  }

  /** `resume`: a peer kept since its socket dropped goes on, on this connection. */
  private async resume(
    msg: Extract<ClientMessage, { type: "resume" }>,
    send: (m: ServerMessage) => void,
    log: Logger,
    onRemoved: (message: string, removal?: Removal) => void,
    socket: SignalSocket,
  ) {
    const claims = await verifyAppToken(this.ctx.identity, msg.token);
    const room = this.rooms.get(claims.room_id);
    const peer = room?.peers.get(msg.peer_id);
    if (!room || !peer || peer.identity.reconnectMs <= 0)
      throw new AppError("gone", "this peer is no longer in the room", {
        details: ["it left, was removed, or did not reconnect within the reconnect window; join again"],
      });
    if (peer.identity.userId !== (claims.user_id ?? "") || peer.identity.hidden)
      throw new AppError("forbidden", "this token does not belong to the peer", {
        details: ["resume with the token the peer joined with"],
      });
    clearTimeout(this.detached.get(peer.id));
    this.detached.delete(peer.id);
    // The old socket may not know yet that it is dead (a network that vanished): it is closed, and
    // its close no longer concerns the peer.
    const previous = this.owners.get(peer);
    this.owners.set(peer, socket);
    previous?.close(4001, "the peer reconnected on a new socket");
    peer.attach(send, (_p, message, removal) => onRemoved(message, removal));
    room.resumed(peer);
    log.info({ peer_id: peer.id, room_id: room.id, replaced: previous !== undefined }, "peer reconnected");
    return { peer, room };
  }

  private async handle(peer: SfuPeer, room: SfuRoom, msg: ClientMessage): Promise<void> {
    /** Acknowledges a message no other answer confirms (moderation), when it carried a ref. */
    const done = () => {
      if (msg.ref) peer.notify({ type: "done", ref: msg.ref });
    };
    switch (msg.type) {
      case "publish":
        this.admitPublisher(peer, msg.tracks);
        checkPublish(msg.sdp, msg.tracks, peer.identity.role, room.allowedToPublish(peer.identity.role));
        await peer.publish(msg.sdp, msg.tracks, msg.ref);
        return room.analytics?.mutesChanged(peer);
      case "subscribe-answer":
        return peer.subscribeAnswer(msg.sdp);
      case "trickle":
        return peer.addIceCandidate(msg.target, msg.candidate);
      case "track-state":
        return room.trackStates(peer, msg.tracks);
      case "chat":
        try {
          return await room.chat(peer, msg);
        } catch (err) {
          throw new AppError("invalid_body", (err as Error).message);
        }
      case "update-peer":
        room.updatePeer(peer, msg);
        return done();
      case "remove-peer":
        await room.moderation.removePeer(peer, msg.peer_id, msg.reason);
        return done();
      case "end-room":
        await room.moderation.endRoom(peer, msg.reason);
        if (msg.lock) {
          await this.ctx.db
            .updateTable("rooms")
            .set({ enabled: fromBool(false), updated_at: nowIso() })
            .where("id", "=", room.id)
            .execute();
          this.log.info({ room_id: room.id, peer_id: peer.id }, "room ended and locked (disabled) by a peer");
        }
        return done();
      case "change-role":
        room.moderation.changeRole(peer, msg);
        return done();
      case "accept-role":
        room.moderation.acceptRole(peer, msg.token);
        return done();
      case "group":
        room.moderation.group(peer, msg);
        return done();
      case "set-session-data":
        return room.sessionData.set(peer, msg);
      case "get-session-data":
        return room.sessionData.get(peer, msg.key, msg.ref);
      case "mute-request":
        room.moderation.requestMute(peer, msg);
        return done();
      case "leave":
        return room.leave(peer, "client request");
      case "join":
      case "resume":
        throw new AppError("conflict", "already joined");
    }
  }

  /**
   * Near its CPU limit a process refuses new publishers (existing ones keep going) rather than let
   * every room in it degrade. Republishing tracks already flowing is always allowed.
   */
  private admitPublisher(peer: SfuPeer, tracks: PublishedTrack[]): void {
    const adds = tracks.some((t) => !peer.published.has(t.track_id));
    const limit = this.ctx.config.sfu.cpuLimit;
    if (adds && this.cpu.cores > limit) {
      this.log.warn({ cores: this.cpu.cores, limit, peer_id: peer.id }, "publisher refused: SFU at its CPU limit");
      throw new AppError("unavailable", "this SFU is at its CPU limit and takes no new publishers", {
        details: [
          `using ${Math.round(this.cpu.cores * 100)}% of a core, limit ${Math.round(limit * 100)}%; try again shortly or add SFU capacity`,
        ],
      });
    }
  }

  async endRoom(roomId: string, reason: string, leaveReason: ServerLeaveReason = "server removed peer"): Promise<number> {
    const room = this.rooms.get(roomId);
    if (!room) return 0;
    const removed = await room.moderation.endByServer(reason, leaveReason);
    this.log.info({ room_id: roomId, peers: removed, reason, leave_reason: leaveReason }, "room ended by the server");
    return removed;
  }

  async liveRoom(roomId: string): Promise<LiveRoom | null> {
    return this.rooms.get(roomId)?.live() ?? null;
  }

  /** The room with a live session, or 404 (the active-rooms API's calls need one). */
  private liveSession(roomId: string): SfuRoom {
    const room = this.rooms.get(roomId);
    if (!room?.sessionId) throw roomNotActive(roomId);
    return room;
  }

  async updatePeer(roomId: string, peerId: string, change: PeerChange): Promise<LivePeer> {
    const room = this.liveSession(roomId);
    const peer = room.visiblePeer(peerId);
    if (!peer) throw new AppError("not_found", "peer not found", { details: [`peer ${peerId} is not in room ${roomId}`] });
    if (change.role !== undefined && !room.isRole(change.role))
      throw new AppError("invalid_body", `Invalid body param: role ${change.role} is not in the room's template`, {
        details: [`role: must be one of ${room.moderation.roleNames()}`],
      });
    room.updateByServer(peer, change);
    this.log.info({ room_id: roomId, peer_id: peerId, changed: Object.keys(change) }, "peer updated by the server");
    return room.livePeer(peer);
  }

  async removePeers(roomId: string, target: PeerTarget, reason: string): Promise<number> {
    const room = this.liveSession(roomId);
    const removed = await room.moderation.removeByServer(target, reason);
    this.log.info({ room_id: roomId, ...target, peers: removed, reason }, "peers removed by the server");
    return removed;
  }

  async sendMessage(roomId: string, msg: ServerMessageOptions): Promise<{ id: string; sent_at: string }> {
    const room = this.liveSession(roomId);
    if (!msg.peerId && msg.role && !room.isRole(msg.role))
      throw new AppError("invalid_body", `Invalid body param: role ${msg.role} is not in the room's template`, {
        details: [`role: must be one of ${room.moderation.roleNames()}`],
      });
    return room.serverMessage(msg);
  }

  /** One server call into a live room, as the shards' IPC carries it (shard-main.ts). */
  roomCall(roomId: string, call: RoomCall): Promise<unknown> {
    return callRoom(this, roomId, call);
  }

  private dropRoom(room: SfuRoom): void {
    if (!room.empty || this.rooms.get(room.id) !== room) return;
    room.dispose();
    this.rooms.delete(room.id);
  }

  /** Shutdown: every peer leaves ("server removed peer"), sessions close, sockets close. */
  async stop(): Promise<void> {
    this.cpu.stop();
    for (const timer of this.detached.values()) clearTimeout(timer);
    // Peers leaving finish their track recordings (queued for upload) before the process goes.
    await Promise.all([...this.rooms.values()].map((r) => r.closeAll("server removed peer", "tapedeck is shutting down")));
    for (const socket of this.sockets) socket.close(1001, "server shutting down");
    await this.analytics.flushed();
  }
}
