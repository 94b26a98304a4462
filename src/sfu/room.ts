import { randomUUID } from "node:crypto";
import type { RoomRow } from "../db/schema.ts";
import { nowIso } from "../ids.ts";
import type { Logger } from "../log.ts";
import type { Json } from "../util/json.ts";
import { ownValue } from "../util/own.ts";
import type { Removal, SfuPeer } from "./peer.ts";
import type { ChatMessageOut, ClientMessage, ServerMessage } from "./protocol.ts";
import type { PublishedTrack } from "./published-track.ts";
import type { SfuRecordingSettings } from "../recorders/core/recording-settings.ts";
import type { TrackRecordingService } from "../recorders/sfu/track-recording.service.ts";
import type { SfuRecordingRef } from "../recorders/sfu/sfu-recording.ts";
import type { LeaveReason, SessionStore } from "./session.store.ts";
import { SignalError } from "./signal-error.ts";

// A live room: its peers, who receives whose tracks (the roles' subscribeToRoles), chat fan-out,
// and the once-a-second housekeeping (REMB feedback, media inactivity). Joins and leaves are
// serialised so the session opens once and closes once, and the room's `size` and each role's
// `maxPeerCount` (0 or absent: no limit; hidden recorder peers do not count) are checked race-free.

const MAX_GROUPS = 16;
const MAX_SESSION_KEYS = 100;
const MAX_SESSION_VALUE_BYTES = 16 * 1024;

/** A publisher silent this long is gone (its network dropped without closing the socket). */
export const MEDIA_INACTIVITY_MS = 5_000;

export class SfuRoom {
  readonly peers = new Map<string, SfuPeer>();
  sessionId: string | null = null;
  sessionStartedAt = "";
  /** The open session's SFU recording (decided when the session opened). */
  recording: SfuRecordingRef | null = null;
  private lastChunk = -1;
  private lastChatAt = 0;
  private queue: Promise<unknown> = Promise.resolve();
  /** Joins asked for and not yet done: a room with one coming is not empty, whatever `peers` says. */
  private joining = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    public row: RoomRow,
    private roles: Record<string, Json>,
    private settings: SfuRecordingSettings,
    private readonly deps: {
      store: SessionStore;
      log: Logger;
      remb: boolean;
      recordings: TrackRecordingService;
      compositeChunkMs: number;
      onEmpty: (room: SfuRoom) => void;
    },
  ) {
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
    this.recording = session.recording;
    this.peers.set(peer.id, peer);
    peer.notify(this.joinedMessage(peer));
    if (!peer.identity.hidden) for (const other of this.visiblePeers(peer.id)) other.notify({ type: "peer-joined", peer: peer.info() });
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
    if (this.recording && this.sessionId) {
      const room = { row: this.row, sessionId: this.sessionId, sessionStartedAt: this.sessionStartedAt, recording: this.recording };
      this.deps.recordings
        .start(room, peer.id, track)
        .catch((err) => this.deps.log.error({ err, peer_id: peer.id }, "could not start track recording"));
    }
    for (const other of this.peers.values()) {
      if (other !== peer && this.canSubscribe(other.identity.role, peer.identity.role)) other.subscribe(peer, track);
    }
    if (!peer.identity.hidden) for (const other of this.visiblePeers(peer.id)) other.notify({ type: "peer-updated", peer: peer.info() });
  }

  onTrackEnded(peer: SfuPeer, track: PublishedTrack): void {
    this.deps.recordings
      .finish(peer.id, track.info.track_id)
      .catch((err) => this.deps.log.error({ err }, "could not finish track recording"));
    for (const other of this.peers.values()) if (other !== peer) other.unsubscribePeer(peer.id, track.info.track_id);
    if (!peer.identity.hidden) for (const other of this.visiblePeers(peer.id)) other.notify({ type: "peer-updated", peer: peer.info() });
  }

  /** A peer muted or unmuted tracks it sends: the others are told. */
  trackStates(peer: SfuPeer, states: Array<{ track_id: string; muted: boolean }>): void {
    if (!this.peers.has(peer.id) || !peer.setMuted(states) || peer.identity.hidden) return;
    for (const other of this.visiblePeers(peer.id)) other.notify({ type: "peer-updated", peer: peer.info() });
  }

  /** Does the template give `role` this permission (endRoom, removeOthers, …)? */
  permits(role: string, permission: string): boolean {
    const permissions = ownValue(this.roles, role)?.permissions as Record<string, unknown> | undefined;
    return permissions?.[permission] === true;
  }

  private requirePermission(peer: SfuPeer, permission: string, what: string): void {
    if (!this.permits(peer.identity.role, permission))
      throw new SignalError(
        "forbidden",
        "forbidden",
        `role ${peer.identity.role} may not ${what} (the template's ${permission} permission)`,
      );
  }

  /** A peer changed its name or metadata: the others are told. */
  updatePeer(peer: SfuPeer, change: { name?: string; user_data?: string }): void {
    if (!this.peers.has(peer.id)) return;
    if (change.name !== undefined) peer.identity.name = change.name;
    if (change.user_data !== undefined) peer.identity.userData = change.user_data;
    if (!peer.identity.hidden) for (const other of this.visiblePeers(peer.id)) other.notify({ type: "peer-updated", peer: peer.info() });
  }

  /** A host removes another peer (its role needs removeOthers); the peer is told who and why. */
  async removePeer(by: SfuPeer, peerId: string, reason = ""): Promise<void> {
    this.requirePermission(by, "removeOthers", "remove peers");
    const target = this.peers.get(peerId);
    if (!target || target.identity.hidden) throw new SignalError("not_found", "not_found", `peer ${peerId} is not in this room`);
    await this.leave(target, "peer kicked", reason, { by: by.id, reason });
  }

  /** A host ends the room for everyone else (its role needs endRoom); `lock` is applied by the caller. */
  async endRoom(by: SfuPeer, reason = ""): Promise<void> {
    this.requirePermission(by, "endRoom", "end the room");
    const others = [...this.peers.values()].filter((p) => p !== by);
    await Promise.all(others.map((p) => this.leave(p, "peer kicked", reason || "room ended", { by: by.id, roomEnded: true, reason })));
  }

  /**
   * A host asks one peer (one track of it with `track_id`), or every other peer (of some roles), to mute
   * or unmute. Muting needs the role's `mute` permission, asking to unmute its `unmute`; each peer's own
   * client acts on the request (the 100ms SDK mutes at once and asks its user before unmuting).
   */
  requestMute(by: SfuPeer, req: Extract<ClientMessage, { type: "mute-request" }>): void {
    this.requirePermission(by, req.mute ? "mute" : "unmute", req.mute ? "mute others" : "ask others to unmute");
    if (req.peer_id && req.roles)
      throw new SignalError("invalid_body", "invalid_message", "a mute-request names peer_id, or roles, or neither (everyone)");
    const { mute, kind, source } = req;
    if (req.peer_id) {
      const target = this.peers.get(req.peer_id);
      if (!target || target.identity.hidden) throw new SignalError("not_found", "not_found", `peer ${req.peer_id} is not in this room`);
      if (!req.track_id) return target.notify({ type: "mute-request", by: by.id, mute, kind, source });
      const track = target.published.get(req.track_id);
      if (!track) throw new SignalError("not_found", "not_found", `peer ${req.peer_id} publishes no track ${req.track_id}`);
      return target.notify({ type: "mute-request", by: by.id, mute, track_id: req.track_id, stream_id: track.info.stream_id });
    }
    if (req.track_id) throw new SignalError("invalid_body", "invalid_message", "track_id needs peer_id");
    const roles = req.roles && new Set(req.roles);
    for (const p of this.visiblePeers(by.id))
      if (!roles || roles.has(p.identity.role)) p.notify({ type: "mute-request", by: by.id, mute, kind, source });
  }

  /** A peer joins or leaves a group; another peer's membership needs `removeOthers`. Everyone, it too, is told. */
  group(by: SfuPeer, req: { name: string; peer_id?: string; join: boolean }): void {
    const target = req.peer_id && req.peer_id !== by.id ? this.peers.get(req.peer_id) : by;
    if (target !== by) this.requirePermission(by, "removeOthers", "put other peers in or out of groups");
    if (!target || target.identity.hidden) throw new SignalError("not_found", "not_found", `peer ${req.peer_id} is not in this room`);
    if (req.join === target.groups.has(req.name)) return;
    if (req.join && target.groups.size >= MAX_GROUPS)
      throw new SignalError("invalid_body", "too_many_groups", `a peer is in at most ${MAX_GROUPS} groups`);
    if (req.join) target.groups.add(req.name);
    else target.groups.delete(req.name);
    const update = { type: "peer-updated", peer: target.info() } as const;
    for (const p of this.visiblePeers()) p.notify(update);
  }

  /** The session store: values by key, for this session (a new session starts empty). */
  private sessionData = new Map<string, { data: unknown; version: number; updated_by: string; updated_at: number }>();

  setSessionData(by: SfuPeer, req: { key: string; data: unknown; if_version?: number; ref?: string }): void {
    const size = Buffer.byteLength(JSON.stringify(req.data));
    if (size > MAX_SESSION_VALUE_BYTES)
      throw new SignalError(
        "payload_too_large",
        "too_large",
        `a session store value is at most ${MAX_SESSION_VALUE_BYTES} bytes (this one ${size})`,
      );
    const current = this.sessionData.get(req.key);
    if (!current && this.sessionData.size >= MAX_SESSION_KEYS)
      throw new SignalError("invalid_body", "too_many_keys", `the session store holds at most ${MAX_SESSION_KEYS} keys`);
    const version = current?.version ?? 0;
    if (req.if_version !== undefined && req.if_version !== version)
      throw new SignalError("conflict", "conflict", `key ${req.key} is at version ${version}, not ${req.if_version}`);
    const value = { data: req.data, version: version + 1, updated_by: by.id, updated_at: Date.now() };
    this.sessionData.set(req.key, value);
    for (const p of this.visiblePeers())
      p.notify({ type: "session-data", key: req.key, ...value, ...(p === by && req.ref ? { ref: req.ref } : {}) });
    // The setter hears it too, even when hidden (it asked).
    if (by.identity.hidden) by.notify({ type: "session-data", key: req.key, ...value, ...(req.ref ? { ref: req.ref } : {}) });
  }

  getSessionData(peer: SfuPeer, key: string, ref?: string): void {
    const value = this.sessionData.get(key) ?? { data: null, version: 0 };
    peer.notify({ type: "session-data", key, ...value, ...(ref ? { ref } : {}) });
  }

  /** Role changes asked and not yet accepted, by token. */
  private readonly roleRequests = new Map<string, { target: string; role: string; by: string }>();

  /** A host changes another peer's role (its role needs changeRole): at once with `force`, else the peer is asked. */
  changeRole(by: SfuPeer, req: { peer_id?: string; roles?: string[]; role: string; force: boolean }): void {
    this.requirePermission(by, "changeRole", "change roles");
    const { role, force } = req;
    if (!ownValue(this.roles, role) || role.startsWith("__"))
      throw new SignalError("invalid_body", "invalid_role", `role ${role} is not one of ${Object.keys(this.roles).join(", ")}`);
    if (!req.peer_id === !req.roles)
      throw new SignalError("invalid_body", "invalid_message", "a change-role names either peer_id or roles");
    if (req.roles) {
      // Every peer of those roles (the one asking too, as 100ms does), at once.
      const from = new Set(req.roles);
      for (const p of this.visiblePeers()) if (from.has(p.identity.role) && p.identity.role !== role) this.applyRole(p, role, by.id);
      return;
    }
    const target = this.peers.get(req.peer_id!);
    if (!target || target.identity.hidden) throw new SignalError("not_found", "not_found", `peer ${req.peer_id} is not in this room`);
    if (force) return this.applyRole(target, role, by.id);
    const token = randomUUID();
    this.roleRequests.set(token, { target: target.id, role, by: by.id });
    target.notify({ type: "role-change-request", role, by: by.id, token });
  }

  /** A peer accepts a role change it was asked for. */
  acceptRole(peer: SfuPeer, token: string): void {
    const req = this.roleRequests.get(token);
    if (!req || req.target !== peer.id) throw new SignalError("not_found", "not_found", "no role change request with this token for you");
    this.roleRequests.delete(token);
    this.applyRole(peer, req.role, req.by);
  }

  /** The peer takes `role`: it is told first, then the others; what it receives follows the new role's subscribeToRoles. */
  private applyRole(peer: SfuPeer, role: string, by: string): void {
    peer.identity.role = role;
    peer.notify({ type: "role-changed", role, by });
    for (const other of this.peers.values()) {
      if (other === peer) continue;
      const mayReceive = this.canSubscribe(peer.identity.role, other.identity.role);
      if (!mayReceive) peer.unsubscribePeer(other.id);
      else for (const t of other.published.values()) peer.subscribe(other, t);
      if (!this.canSubscribe(other.identity.role, role)) other.unsubscribePeer(peer.id);
      else for (const t of peer.published.values()) other.subscribe(peer, t);
    }
    if (!peer.identity.hidden) for (const other of this.visiblePeers(peer.id)) other.notify({ type: "peer-updated", peer: peer.info() });
    this.deps.log.info({ peer_id: peer.id, role, by }, "peer role changed");
  }

  /** Removes a peer once, for `reason`; closes the session if it was the last. */
  leave(peer: SfuPeer, reason: LeaveReason, message = "", removal?: Removal): Promise<void> {
    if (!this.peers.has(peer.id)) return Promise.resolve();
    // The peer left now: finishing its recordings below may take seconds, which must not move left_at.
    const leftAt = nowIso();
    this.peers.delete(peer.id);
    // A peer the server removes (media or connection lost, shutdown) is told why, and its socket closed.
    if (reason !== "client request" && reason !== "websocket closed")
      peer.removed(`removed from the room: ${reason}${message ? ` (${message})` : ""}`, removal);
    const closing = peer.close();
    for (const other of this.peers.values()) {
      other.unsubscribePeer(peer.id);
      if (!peer.identity.hidden) other.notify({ type: "peer-left", peer_id: peer.id, reason });
    }
    this.deps.log.info({ peer_id: peer.id, reason, peers: this.peers.size }, "peer left");
    return this.serial(async () => {
      await closing;
      await this.deps.recordings.finish(peer.id).catch((err) => this.deps.log.error({ err }, "could not finish track recordings"));
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
    const sentAt = this.nextChatTime();
    const sender = { peer_id: from.id, name: from.identity.name, user_id: from.identity.userId, role: from.identity.role };
    const id = await this.deps.store.saveChat({
      roomId: this.row.id,
      sessionId: this.sessionId,
      sender: { peerId: from.id, name: sender.name, userId: sender.user_id, role: sender.role },
      roles,
      toPeerId: msg.peer_id,
      message: msg.message,
      sentAt,
    });
    const out: ChatMessageOut = {
      type: "chat",
      id,
      sender,
      roles,
      message: msg.message,
      sent_at: sentAt,
      ...(msg.peer_id ? { peer_id: msg.peer_id } : {}),
    };
    const recipients = target
      ? [target, from]
      : [...this.peers.values()].filter((p) => p === from || roles.length === 0 || roles.includes(p.identity.role));
    for (const p of new Set(recipients)) p.notify(p === from && msg.ref ? { ...out, ref: msg.ref } : out);
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

  /** Asks every recorded publisher for a keyframe (at layout changes and composite chunk boundaries). */
  private requestRecordingKeyframes(): void {
    if (!this.recording?.settings.composite) return;
    for (const peer of this.peers.values()) for (const t of peer.published.values()) t.requestKeyframe(true);
  }

  private tick(): void {
    const now = Date.now();
    if (this.recording?.settings.composite && this.sessionStartedAt) {
      // Asked for a little before each boundary, the keyframe lands just ahead of it: a segment
      // starting there decodes from it instead of from the previous boundary's.
      const chunk = Math.floor((now + 1500 - Date.parse(this.sessionStartedAt)) / this.recording.chunkMs);
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
  }

  dispose(): void {
    clearInterval(this.timer);
  }
}
