import type { AppContext } from "../app-context.ts";
import { verifyAppToken } from "../auth/tokens.ts";
import { autoStartBeam } from "../beam/beam.service.ts";
import { RECORDER_ROLE } from "../domain/recording-types.ts";
import { AppError } from "../errors.ts";
import { newUuid, nowIso } from "../ids.ts";
import type { Logger } from "../log.ts";
import { templateParts } from "../templates/template.service.ts";
import { SfuPeer } from "./peer.ts";
import { clientMessageSchema, type ClientMessage, type PublishedTrack, type ServerMessage } from "./protocol.ts";
import { SfuRoom } from "./room.ts";
import { sfuRecordingSettings } from "../recorders/recording-settings.ts";
import { TrackRecordingService } from "../recorders/track-recording.service.ts";
import { CpuMeter } from "./cpu-meter.ts";
import { SessionStore } from "./session.store.ts";
import type { SignalSocket } from "./signal-socket.ts";

// The SFU: accepts signalling connections, authenticates peers with app tokens, and keeps the live
// rooms. A malformed message gets an error frame, never an exception out of a handler.

const JOIN_TIMEOUT_MS = 10_000;

const SOURCE_PERMISSION = { camera: "video", microphone: "audio", screen: "screen" } as const;
const SOURCE_KIND = { camera: "video", microphone: "audio", screen: "video" } as const;

export class Sfu {
  readonly rooms = new Map<string, SfuRoom>();
  readonly store: SessionStore;
  private readonly log: Logger;
  private readonly sockets = new Set<SignalSocket>();

  /** This process's CPU load; replaceable in tests. */
  cpu: { readonly cores: number; stop(): void };

  readonly recordings: TrackRecordingService;

  constructor(
    private readonly ctx: Pick<AppContext, "db" | "outbox" | "identity" | "log" | "config">,
    private readonly opts: { onJobQueued?: () => void } = {},
  ) {
    this.store = new SessionStore(ctx);
    this.recordings = new TrackRecordingService(ctx, opts.onJobQueued);
    this.log = ctx.log.child({ component: "sfu" });
    this.cpu = new CpuMeter(1000, (lateMs) =>
      this.log.warn({ late_ms: lateMs, rooms: this.rooms.size }, "event loop held up: media and signalling waited that long (a busy machine, or blocking work in this process)"));
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
    const send = (msg: ServerMessage) => socket.send(JSON.stringify(msg));
    const fail = (code: number, reason: string, message: string, fatal: boolean) => {
      send({ type: "error", code, reason, message, fatal });
      if (fatal) socket.close(4000 + Math.min(code, 999), message.slice(0, 120));
    };
    const joinTimer = setTimeout(() => {
      if (!peer) fail(408, "join_timeout", `send {"type":"join"} within ${JOIN_TIMEOUT_MS / 1000} s`, true);
    }, JOIN_TIMEOUT_MS);
    let open = true;
    socket.onClose(() => {
      open = false;
      clearTimeout(joinTimer);
      this.sockets.delete(socket);
      if (peer && room) void room.leave(peer, "websocket closed").catch((err) => log.error({ err }, "leave failed"));
    });

    socket.onMessage((data) => {
      void (async () => {
        let msg: ClientMessage;
        try {
          if (data.startsWith("\u0000")) throw new Error("binary frames are not part of the protocol");
          const parsed = clientMessageSchema.safeParse(JSON.parse(data));
          if (!parsed.success) {
            const issue = parsed.error.issues[0];
            return fail(400, "invalid_message", `invalid message: ${issue.path.join(".") || "(message)"}: ${issue.message}`, false);
          }
          msg = parsed.data;
        } catch (err) {
          return fail(400, "invalid_message", `invalid message: ${(err as Error).message}`, false);
        }
        try {
          if (msg.type === "ping") return send({ type: "pong" });
          if (!peer) {
            if (msg.type !== "join") return fail(400, "not_joined", `send {"type":"join"} first (got ${msg.type})`, false);
            if (joining) return fail(409, "already_joining", "join already in progress", false);
            joining = true;
            const joined = await this.join(msg, send, log, (message) => fail(410, "removed", message, true));
            peer = joined.peer;
            room = joined.room;
            clearTimeout(joinTimer);
            if (!open) void room.leave(peer, "websocket closed");
            return;
          }
          await this.handle(peer, room!, msg);
        } catch (err) {
          if (err instanceof AppError) return fail(err.status, err.reason, err.details[0] ? `${err.message}: ${err.details[0]}` : err.message, !peer);
          log.error({ err, peer_id: peer?.id, type: msg.type }, "signalling message failed");
          fail(500, "internal", `could not handle ${msg.type}: ${(err as Error).message}`, false);
        } finally {
          if (!peer) joining = false;
        }
      })();
    });
  }

  private async join(msg: Extract<ClientMessage, { type: "join" }>, send: (m: ServerMessage) => void, log: Logger, onRemoved: (message: string) => void) {
    const claims = await verifyAppToken(this.ctx.identity, msg.token);
    const row = await this.ctx.db.selectFrom("rooms").selectAll().where("id", "=", claims.room_id).executeTakeFirst();
    if (!row) throw new AppError("not_found", "room not found", { details: [`no room with id ${claims.room_id}`] });
    if (!row.enabled) throw new AppError("forbidden", "room is disabled", { details: ["enable it with POST /v2/rooms/<id> {\"enabled\": true}"] });
    const template = await this.ctx.db.selectFrom("templates").selectAll().where("id", "=", row.template_id).executeTakeFirstOrThrow();
    const roles = templateParts(template).roles;
    // The browser recorder's hidden role needs no entry in the template: it publishes nothing and
    // receives every role (its page shows only the roles the recording asked for).
    if (claims.role === RECORDER_ROLE && !roles[claims.role]) roles[claims.role] = { name: RECORDER_ROLE, publishParams: { allowed: [] } };
    if (!roles[claims.role]) throw new AppError("forbidden", "role not in the room's template", { details: [`role ${claims.role} is not one of ${Object.keys(roles).join(", ")}`] });

    const settings = sfuRecordingSettings(row, template);
    let room = this.rooms.get(row.id);
    if (room) room.updateRoles(row, roles, settings);
    else {
      room = new SfuRoom(row, roles, settings, {
        store: this.store, log: this.log.child({ room_id: row.id }), remb: this.ctx.config.sfu.remb, recordings: this.recordings, compositeChunkMs: this.ctx.config.recording.compositeChunkMs, onEmpty: (r) => this.dropRoom(r),
      });
      this.rooms.set(row.id, room);
    }
    const peerLog = log.child({ room_id: row.id });
    const theRoom = room;
    const peer = new SfuPeer(
      { id: newUuid(), name: msg.name, role: claims.role, userId: claims.user_id ?? "", userData: msg.user_data ?? "", joinedAt: nowIso(), hidden: claims.role.startsWith("__") },
      send,
      peerLog,
      {
        onTrack: (p, t) => theRoom.onTrack(p, t),
        onTrackEnded: (p, t) => theRoom.onTrackEnded(p, t),
        onConnectionLost: (p) => void theRoom.leave(p, "ice connection state closed"),
        onRemoved: (_p, message) => onRemoved(message),
      },
    );
    await room.join(peer);
    if (!peer.identity.hidden) {
      await autoStartBeam(this.ctx.db, row, template)
        .then((started) => {
          if (!started) return;
          peerLog.info({ peer_id: peer.id }, "browser recording auto-started (template browserComposite.autoStart)");
          this.opts.onJobQueued?.();
        })
        .catch((err) => peerLog.error({ err }, "could not auto-start the browser recording"));
    }
    return { peer, room };
  }

  private async handle(peer: SfuPeer, room: SfuRoom, msg: ClientMessage): Promise<void> {
    switch (msg.type) {
      case "publish":
        this.checkPublish(room, peer, msg.tracks, msg.sdp);
        this.admitPublisher(peer, msg.tracks);
        return peer.publish(msg.sdp, msg.tracks);
      case "subscribe-answer":
        return peer.subscribeAnswer(msg.sdp);
      case "chat":
        try {
          return await room.chat(peer, msg);
        } catch (err) {
          throw new AppError("invalid_body", (err as Error).message);
        }
      case "leave":
        return room.leave(peer, "client request");
      case "join":
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
        details: [`using ${Math.round(this.cpu.cores * 100)}% of a core, limit ${Math.round(limit * 100)}%; try again shortly or add SFU capacity`],
      });
    }
  }

  private checkPublish(room: SfuRoom, peer: SfuPeer, tracks: PublishedTrack[], sdp: string): void {
    if (!/^v=0\r?\n/.test(sdp) || !/^m=/m.test(sdp)) throw new AppError("invalid_body", "publish sdp is not an SDP offer with media sections");
    const mids = new Set([...sdp.matchAll(/^a=mid:(\S+)/gm)].map((m) => m[1]));
    const unknown = tracks.filter((t) => !mids.has(t.mid));
    if (unknown.length) throw new AppError("invalid_body", `publish tracks name mids the offer does not have: ${unknown.map((t) => t.mid).join(", ")}`);
    const allowed = room.allowedToPublish(peer.identity.role);
    for (const t of tracks) {
      if (SOURCE_KIND[t.source] !== t.kind) throw new AppError("invalid_body", `track ${t.track_id}: a ${t.source} track must be ${SOURCE_KIND[t.source]}`);
      if (!allowed.includes(SOURCE_PERMISSION[t.source])) {
        throw new AppError("forbidden", `role ${peer.identity.role} may not publish ${SOURCE_PERMISSION[t.source]}`, { details: [`allowed: ${allowed.join(", ") || "nothing"}`] });
      }
    }
  }

  private dropRoom(room: SfuRoom): void {
    if (!room.empty || this.rooms.get(room.id) !== room) return;
    room.dispose();
    this.rooms.delete(room.id);
  }

  /** Shutdown: every peer leaves ("server removed peer"), sessions close, sockets close. */
  async stop(): Promise<void> {
    this.cpu.stop();
    // Peers leaving finish their track recordings (queued for upload) before the process goes.
    await Promise.all([...this.rooms.values()].map((r) => r.closeAll("server removed peer", "tapedeck is shutting down")));
    for (const socket of this.sockets) socket.close(1001, "server shutting down");
  }
}
