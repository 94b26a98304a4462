import type { RoomRow } from "../db/schema.ts";
import { newUuid, nowIso } from "../ids.ts";
import type { Logger } from "../log.ts";
import type { Json } from "../util/json.ts";
import { ownValue } from "../util/own.ts";
import type { Removal, SfuPeer } from "./peer.ts";
import type { ChatMessageOut, ServerMessage } from "./protocol.ts";
import type { PublishedTrack } from "./published-track.ts";
import type { SfuRecordingSettings } from "../templates/recording-settings.ts";
import type { TrackRecordingService } from "../recorders/sfu/track-recording.service.ts";
import type { SfuRecordingRef } from "../recorders/sfu/sfu-recording.ts";
import type { LeaveReason, SessionStore } from "./session.store.ts";
import type { LivePeer, LiveRoom, PeerChange, ServerMessageOptions } from "./sfu-service.ts";
import { SignalError } from "./signal-error.ts";
import { RoomModeration } from "./room-moderation.ts";
import { SessionData } from "./session-data.ts";
import { RoomAnalytics } from "../analytics/room-analytics.ts";
import type { AnalyticsEventWriter } from "../analytics/track-events.ts";
import type { Db } from "../db/database.ts";

// A live room: its peers, who receives whose tracks (the roles' subscribeToRoles), chat fan-out,
// and the once-a-second housekeeping (REMB feedback, media inactivity). Joins and leaves are
// serialised so the session opens once and closes once, and the room's `size` and each role's
// `maxPeerCount` (0 or absent: no limit; hidden recorder peers do not count) are checked race-free.
// The server acts on a live room here too (the active-rooms API): it lists and changes peers and sends
// messages as no peer, told to the peers exactly as a host's action would be.

/** Who a message from the server (send-message of the active-rooms API) is from: no peer. */
export const SERVER_SENDER: ChatMessageOut["sender"] = { peer_id: "", name: "System", user_id: "", role: "" };

/** A chat message as the SFU sends it, with the 100ms message `type` when it is not "chat" (the 100ms SDK's `info.type`). */
export type ChatOut = ChatMessageOut & { message_type?: string };

/** A publisher silent this long is gone (its network dropped without closing the socket). */
export const MEDIA_INACTIVITY_MS = 5_000;

/**
 * Told what changes in a room whose session records a composite, to draw it live
 * (recorders/compositor/session-composite.ts): the session opened, its visible peers or their tracks
 * changed, and its last peer left (the session closes once `closing` has settled).
 */
export interface RoomWatcher {
  opened(room: SfuRoom): void;
  changed(room: SfuRoom): void;
  closing(room: SfuRoom): Promise<void>;
}

export class SfuRoom {
  readonly peers = new Map<string, SfuPeer>();
  sessionId: string | null = null;
  sessionStartedAt = "";
  /** The open session's SFU recording (decided when the session opened). */
  recording: SfuRecordingRef | null = null;
  private lastChunk = -1;
  private lastChatAt = 0;
  /** When each published track (`<peer id>/<track id>`) started arriving. */
  private readonly trackStarts = new Map<string, string>();
  private queue: Promise<unknown> = Promise.resolve();
  /** Joins asked for and not yet done: a room with one coming is not empty, whatever `peers` says. */
  private joining = 0;
  private readonly timer: NodeJS.Timeout;
  /** What peers may do to each other, under their roles' permissions (room-moderation.ts). */
  readonly moderation: RoomModeration = new RoomModeration(this);
  /** The session store (session-data.ts): emptied when the session closes. */
  readonly sessionData = new SessionData(() => this.visiblePeers());
  /** Track events, error events and media stats of this room (analytics/room-analytics.ts), when the SFU writes them. */
  readonly analytics: RoomAnalytics | null;

  constructor(
    public row: RoomRow,
    public roles: Record<string, Json>,
    private settings: SfuRecordingSettings,
    private readonly deps: {
      store: SessionStore;
      log: Logger;
      remb: boolean;
      recordings: TrackRecordingService;
      compositeChunkMs: number;
      onEmpty: (room: SfuRoom) => void;
      analytics?: { writer: AnalyticsEventWriter; db: Db };
      /** Draws the session's composite live (recorders/compositor/session-composite.ts). */
      watcher?: RoomWatcher;
    },
  ) {
    this.analytics = deps.analytics ? new RoomAnalytics(this, { ...deps.analytics, log: deps.log }) : null;
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
  }

  get id(): string {
    return this.row.id;
  }

  /** No peer in it and none on the way in: it may be dropped. */
  get empty(): boolean {
    return this.peers.size === 0 && this.joining === 0;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** May a peer of role `subscriber` receive tracks of role `publisher`? (no list = every role) */
  canSubscribe(subscriber: string, publisher: string): boolean {
    const subs = (ownValue(this.roles, subscriber)?.subscribeParams as { subscribeToRoles?: string[] } | undefined)?.subscribeToRoles;
    return subs === undefined || subs.includes(publisher);
  }

  updateRoles(row: RoomRow, roles: Record<string, Json>, settings: SfuRecordingSettings): void {
    this.row = row;
    this.roles = roles;
    this.settings = settings;
  }

  visiblePeers(except?: string) {
    return [...this.peers.values()].filter((p) => !p.identity.hidden && p.id !== except);
  }

  /** Who is told of a peer's join, change and leave: everyone else, hidden peers too (a recorder draws the room from it). */
  othersThan(id: string) {
    return [...this.peers.values()].filter((p) => p.id !== id);
  }

  /** A visible peer changed (tracks, mutes, name, role): everyone else is told, and the live composite follows. */
  private announceUpdate(peer: SfuPeer): void {
    if (peer.identity.hidden) return;
    for (const other of this.othersThan(peer.id)) other.notify({ type: "peer-updated", peer: peer.info() });
    this.deps.watcher?.changed(this);
  }

  join(peer: SfuPeer): Promise<void> {
    // Counted now, not when its turn comes: the last peer's leave, queued ahead of this join, must not
    // drop the room (the joiner would be alone in a room no one else can reach).
    this.joining++;
    return this.serial(async () => {
      try {
        await this.admit(peer);
      } finally {
        this.joining--;
        if (this.empty) this.deps.onEmpty(this);
      }
    });
  }

  /** Refuses a visible peer the room's `size` or its role's `maxPeerCount` has no place for. */
  private checkLimits(peer: SfuPeer): void {
    if (peer.identity.hidden) return;
    const visible = this.visiblePeers();
    const size = this.row.size ?? 0;
    if (size > 0 && visible.length >= size) {
      throw new SignalError(
        "forbidden",
        "room_full",
        `room is full: it takes ${size} peers and has ${visible.length}; try again when someone leaves`,
      );
    }
    const { role } = peer.identity;
    const max = Number(ownValue(this.roles, role)?.maxPeerCount ?? 0);
    const inRole = visible.filter((p) => p.identity.role === role).length;
    if (max > 0 && inRole >= max) {
      throw new SignalError(
        "forbidden",
        "role_full",
        `role ${role} is full: it takes ${max} peers and has ${inRole}; try again when one leaves`,
      );
    }
  }

  private async admit(peer: SfuPeer): Promise<void> {
    this.checkLimits(peer);
    const session = await this.deps.store.addPeer(
      this.row,
      { id: peer.id, name: peer.identity.name, role: peer.identity.role, userId: peer.identity.userId, userData: peer.identity.userData },
      { settings: this.settings, chunkMs: this.deps.compositeChunkMs },
    );
    this.sessionId = session.sessionId;
    this.sessionStartedAt = session.startedAt;
    // One join time everywhere: the peer's info, the sessions API and the webhook.
    peer.identity.joinedAt = session.joinedAt;
    this.recording = session.recording;
    this.peers.set(peer.id, peer);
    // A session opened by this join, recording a composite: drawn live from now on.
    if (this.recording?.settings.composite && session.startedAt === session.joinedAt) this.deps.watcher?.opened(this);
    peer.notify(this.joinedMessage(peer));
    if (!peer.identity.hidden) {
      for (const other of this.othersThan(peer.id)) other.notify({ type: "peer-joined", peer: peer.info() });
      this.deps.watcher?.changed(this);
    }
    peer.openSubscribe();
    for (const other of this.peers.values()) {
      if (other === peer || !this.canSubscribe(peer.identity.role, other.identity.role)) continue;
      for (const track of other.published.values()) peer.subscribe(other, track);
    }
    this.requestRecordingKeyframes(); // the composite's layout changes here: a keyframe makes the cut cheap to seek to
    this.deps.log.info(
      { peer_id: peer.id, role: peer.identity.role, session_id: session.sessionId, peers: this.peers.size },
      "peer joined",
    );
  }

  private joinedMessage(peer: SfuPeer): Extract<ServerMessage, { type: "joined" }> {
    return {
      type: "joined",
      peer: peer.info(),
      room: { id: this.row.id, name: this.row.name },
      session_id: this.sessionId ?? "",
      peers: this.visiblePeers(peer.id).map((p) => p.info()),
      can_publish: this.allowedToPublish(peer.identity.role),
    };
  }

  /** A peer back on a new socket (Sfu.resume): the room as it is now, and the subscribe offer it may have missed. */
  resumed(peer: SfuPeer): void {
    if (!this.peers.has(peer.id)) return;
    peer.notify({ ...this.joinedMessage(peer), resumed: true });
    peer.resumeSubscribe();
  }

  allowedToPublish(role: string): Array<"audio" | "video" | "screen"> {
    const allowed = (ownValue(this.roles, role)?.publishParams as { allowed?: Array<"audio" | "video" | "screen"> } | undefined)?.allowed;
    return allowed ?? ["audio", "video", "screen"];
  }

  onTrack(peer: SfuPeer, track: PublishedTrack): void {
    if (!this.peers.has(peer.id)) return;
    this.trackStarts.set(`${peer.id}/${track.info.track_id}`, nowIso());
    this.analytics?.trackAdded(peer, track);
    if (this.recording && this.sessionId) {
      const room = { row: this.row, sessionId: this.sessionId, sessionStartedAt: this.sessionStartedAt, recording: this.recording };
      this.deps.recordings
        .start(room, peer.id, track)
        .catch((err) => this.deps.log.error({ err, peer_id: peer.id }, "could not start track recording"));
    }
    for (const other of this.peers.values()) {
      if (other !== peer && this.canSubscribe(other.identity.role, peer.identity.role)) other.subscribe(peer, track);
    }
    this.announceUpdate(peer);
  }

  onTrackEnded(peer: SfuPeer, track: PublishedTrack): void {
    this.trackStarts.delete(`${peer.id}/${track.info.track_id}`);
    this.analytics?.trackRemoved(peer, track);
    this.deps.recordings
      .finish(peer.id, track.info.track_id)
      .catch((err) => this.deps.log.error({ err }, "could not finish track recording"));
    for (const other of this.peers.values()) if (other !== peer) other.unsubscribePeer(peer.id, track.info.track_id);
    this.announceUpdate(peer);
  }

  /** A peer muted or unmuted tracks it sends: the others are told. */
  trackStates(peer: SfuPeer, states: Array<{ track_id: string; muted: boolean }>): void {
    if (!this.peers.has(peer.id) || !peer.setMuted(states)) return;
    this.analytics?.mutesChanged(peer);
    this.announceUpdate(peer);
  }

  /** Does the template give `role` this permission (endRoom, removeOthers, …)? */
  permits(role: string, permission: string): boolean {
    const permissions = ownValue(this.roles, role)?.permissions as Record<string, unknown> | undefined;
    return permissions?.[permission] === true;
  }

  /** A peer changed its name or metadata: the others are told. */
  updatePeer(peer: SfuPeer, change: { name?: string; user_data?: string }): void {
    if (!this.peers.has(peer.id)) return;
    if (change.name !== undefined) peer.identity.name = change.name;
    if (change.user_data !== undefined) peer.identity.userData = change.user_data;
    this.persistPeer(peer);
    this.announceUpdate(peer);
  }

  /** The peer's name, role and metadata as they are now, into its row (the sessions API, the peer-left webhook), in turn with its leave. */
  private persistPeer(peer: SfuPeer): void {
    const { id, name, role, userData } = peer.identity;
    void this.serial(() => this.deps.store.updatePeer(id, { name, role, userData })).catch((err) =>
      this.deps.log.error({ err, peer_id: id }, "could not save the peer's new name, role or metadata"),
    );
  }

  /** A visible peer in this room's live session (a recorder bot is none): the server's calls act on these only. */
  visiblePeer(peerId: string): SfuPeer | undefined {
    const peer = this.peers.get(peerId);
    return peer && !peer.identity.hidden ? peer : undefined;
  }

  /** Is `role` one of the template's roles a peer may take (tapedeck's own `__` roles are not)? */
  isRole(role: string): boolean {
    return ownValue(this.roles, role) !== undefined && !role.startsWith("__");
  }

  /** A peer as the server shows it: its info, each track with when it started. */
  livePeer(peer: SfuPeer): LivePeer {
    const info = peer.info();
    return {
      ...info,
      tracks: info.tracks.map((t) => ({ ...t, started_at: this.trackStarts.get(`${peer.id}/${t.track_id}`) ?? peer.identity.joinedAt })),
    };
  }

  /** The open session and its visible peers, oldest first; null while no session is open. */
  live(): LiveRoom | null {
    if (!this.sessionId) return null;
    return {
      session_id: this.sessionId,
      session_started_at: this.sessionStartedAt,
      peers: this.visiblePeers().map((p) => this.livePeer(p)),
    };
  }

  /**
   * The server changes a peer (the active-rooms API): name and metadata, then the role (at once, as a
   * forced change-role: the peer gets role-changed). The peer itself and the others get its peer-updated.
   */
  updateByServer(peer: SfuPeer, change: PeerChange): void {
    if (!this.peers.has(peer.id)) return;
    if (change.name !== undefined) peer.identity.name = change.name;
    if (change.metadata !== undefined) peer.identity.userData = change.metadata;
    if (change.role !== undefined && change.role !== peer.identity.role) this.applyRole(peer, change.role, "");
    else {
      this.persistPeer(peer);
      this.announceUpdate(peer);
    }
    peer.notify({ type: "peer-updated", peer: peer.info() });
  }

  /** The peer takes `role`: it is told first, then the others; what it receives follows the new role's subscribeToRoles. */
  applyRole(peer: SfuPeer, role: string, by: string): void {
    peer.identity.role = role;
    this.persistPeer(peer);
    peer.notify({ type: "role-changed", role, by });
    for (const other of this.peers.values()) {
      if (other === peer) continue;
      const mayReceive = this.canSubscribe(peer.identity.role, other.identity.role);
      if (!mayReceive) peer.unsubscribePeer(other.id);
      else for (const t of other.published.values()) peer.subscribe(other, t);
      if (!this.canSubscribe(other.identity.role, role)) other.unsubscribePeer(peer.id);
      else for (const t of peer.published.values()) other.subscribe(peer, t);
    }
    this.announceUpdate(peer);
    this.deps.log.info({ peer_id: peer.id, role, by }, "peer role changed");
  }

  /** Removes a peer once, for `reason`; closes the session if it was the last. */
  leave(peer: SfuPeer, reason: LeaveReason, message = "", removal?: Removal): Promise<void> {
    if (!this.peers.has(peer.id)) return Promise.resolve();
    // The peer left now: finishing its recordings below may take seconds, which must not move left_at.
    const leftAt = nowIso();
    this.analytics?.peerLeaving(peer, reason, message, leftAt);
    this.peers.delete(peer.id);
    for (const key of this.trackStarts.keys()) if (key.startsWith(`${peer.id}/`)) this.trackStarts.delete(key);
    // A peer the server removes (media or connection lost, shutdown) is told why, and its socket closed.
    // The server ending the room or removing the peer (a removal by no peer) says it in its own plain words.
    if (reason !== "client request" && reason !== "websocket closed")
      peer.removed(
        removal && !removal.by
          ? message || (removal.roomEnded ? "The room was ended." : "You were removed from the room.")
          : `removed from the room: ${reason}${message ? ` (${message})` : ""}`,
        removal,
      );
    const closing = peer.close();
    for (const other of this.peers.values()) {
      other.unsubscribePeer(peer.id);
      if (!peer.identity.hidden) other.notify({ type: "peer-left", peer_id: peer.id, reason });
    }
    if (!peer.identity.hidden) this.deps.watcher?.changed(this);
    // The last one out: the live composite ends now, and its file is finished before the session closes.
    const composited = this.peers.size === 0 ? this.deps.watcher?.closing(this) : undefined;
    this.deps.log.info({ peer_id: peer.id, reason, peers: this.peers.size }, "peer left");
    return this.serial(async () => {
      await closing;
      await this.analytics?.written(); // its track events and client.disconnected come before its peer.leave.success
      await this.deps.recordings.finish(peer.id).catch((err) => this.deps.log.error({ err }, "could not finish track recordings"));
      await composited?.catch((err) => this.deps.log.error({ err }, "could not finish the live composite"));
      const closed = await this.deps.store.removePeer(this.row, peer.id, reason, message, leftAt);
      if (closed) {
        this.deps.log.info({ session_id: this.sessionId, recording_id: this.recording?.id }, "session closed");
        this.sessionId = null;
        this.recording = null;
        this.sessionData.clear();
        this.lastChunk = -1;
      } else this.requestRecordingKeyframes();
      if (this.empty) this.deps.onEmpty(this);
    });
  }

  /** Chat: to everyone, to some roles, or to one peer; every message is kept (direct ones marked). */
  async chat(from: SfuPeer, msg: { message: string; roles?: string[]; peer_id?: string; ref?: string }): Promise<void> {
    if (!this.sessionId || !this.peers.has(from.id)) throw new Error("you are no longer in the room");
    const target = msg.peer_id ? this.peers.get(msg.peer_id) : undefined;
    if (msg.peer_id && !target) throw new Error(`peer ${msg.peer_id} is not in this room`);
    const roles = msg.peer_id ? [] : (msg.roles ?? []);
    const sender = { peer_id: from.id, name: from.identity.name, user_id: from.identity.userId, role: from.identity.role };
    const out = await this.postChat(this.sessionId, sender, msg.message, roles, msg.peer_id);
    const recipients = target
      ? [target, from]
      : [...this.peers.values()].filter((p) => p === from || roles.length === 0 || roles.includes(p.identity.role));
    for (const p of new Set(recipients)) p.notify(p === from && msg.ref ? { ...out, ref: msg.ref } : out);
  }

  /**
   * A message from the server (the active-rooms API's send-message), from no peer (SERVER_SENDER): to
   * one visible peer, to the peers of a role, or to everyone. A chat message (type absent or "chat") is
   * kept like a peer's; another type (an emoji, an app's event) is only delivered. The caller checked
   * that the peer is here and the role is the template's.
   */
  async serverMessage(msg: ServerMessageOptions): Promise<{ id: string; sent_at: string }> {
    if (!this.sessionId) throw new SignalError("not_found", "not_found", "the room has no active session");
    const target = msg.peerId ? this.visiblePeer(msg.peerId) : undefined;
    if (msg.peerId && !target) throw new SignalError("not_found", "not_found", `peer ${msg.peerId} is not in this room`);
    const roles = !msg.peerId && msg.role ? [msg.role] : [];
    const type = msg.type ?? "chat";
    const out = await this.postChat(this.sessionId, SERVER_SENDER, msg.message, roles, msg.peerId, type);
    const recipients = target ? [target] : [...this.peers.values()].filter((p) => roles.length === 0 || roles.includes(p.identity.role));
    for (const p of recipients) p.notify(out);
    this.deps.log.info({ to_peer: msg.peerId, role: roles[0], type, id: out.id }, "message sent by the server");
    return { id: out.id, sent_at: out.sent_at };
  }

  /** Keeps a chat message (type "chat" only: the chat store has no other) and makes what its recipients get. */
  private async postChat(
    sessionId: string,
    sender: ChatMessageOut["sender"],
    message: string,
    roles: string[],
    toPeerId: string | undefined,
    type = "chat",
  ): Promise<ChatOut> {
    const sentAt = this.nextChatTime();
    const id =
      type === "chat"
        ? await this.deps.store.saveChat({
            roomId: this.row.id,
            sessionId,
            sender: { peerId: sender.peer_id, name: sender.name, userId: sender.user_id, role: sender.role },
            roles,
            toPeerId,
            message,
            sentAt,
          })
        : newUuid();
    return {
      type: "chat",
      id,
      sender,
      roles,
      message,
      sent_at: sentAt,
      ...(toPeerId ? { peer_id: toPeerId } : {}),
      ...(type !== "chat" ? { message_type: type } : {}),
    };
  }

  /**
   * The chat's timestamp: now, but always after the room's previous message, so messages sent within
   * one millisecond keep their order in the chat CSV (sorted by `sent_at`; message ids are random).
   */
  private nextChatTime(): string {
    const at = Math.max(Date.now(), this.lastChatAt + 1);
    this.lastChatAt = at;
    return new Date(at).toISOString();
  }

  /** Are recorded tracks cut in pieces while the session runs (the composite's segments, the per-peer videos' pieces)? */
  private get cutsRecordings(): boolean {
    return Boolean(this.recording?.settings.composite || this.recording?.settings.stream);
  }

  /** Asks every recorded publisher for a keyframe (at layout changes and composite chunk boundaries). */
  private requestRecordingKeyframes(): void {
    if (!this.cutsRecordings) return;
    for (const peer of this.peers.values()) for (const t of peer.published.values()) t.requestKeyframe(true);
  }

  private tick(): void {
    const now = Date.now();
    if (this.cutsRecordings && this.sessionStartedAt) {
      // Asked for a little before each boundary, the keyframe lands just ahead of it: a segment
      // starting there decodes from it instead of from the previous boundary's.
      const chunk = Math.floor((now + 1500 - Date.parse(this.sessionStartedAt)) / (this.recording?.chunkMs ?? 1));
      if (chunk !== this.lastChunk) {
        if (this.lastChunk >= 0) this.requestRecordingKeyframes();
        this.lastChunk = chunk;
      }
    }
    for (const peer of this.peers.values()) {
      if (this.deps.remb) for (const t of peer.published.values()) t.sendFeedback();
      const silent = peer.msSinceLastMedia(now);
      // A peer that may reconnect gets its reconnect window: its media stops while its network is down.
      if (silent !== null && silent > Math.max(MEDIA_INACTIVITY_MS, peer.identity.reconnectMs))
        void this.leave(peer, "ice connection state closed", `no media for ${Math.round(silent / 1000)} s`);
    }
  }

  /** Everyone out (shutdown). */
  async closeAll(reason: LeaveReason, message: string): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.peers.values()].map((p) => this.leave(p, reason, message)));
    await this.queue;
    this.analytics?.dispose();
    await this.analytics?.flush();
  }

  dispose(): void {
    clearInterval(this.timer);
    this.analytics?.dispose();
  }
}
