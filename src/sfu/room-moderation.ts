import { randomUUID } from "node:crypto";
import { ownValue } from "../util/own.ts";
import type { SfuPeer } from "./peer.ts";
import type { ClientMessage } from "./protocol.ts";
import type { SfuRoom } from "./room.ts";
import type { PeerTarget, ServerLeaveReason } from "./sfu-service.ts";
import { SignalError } from "./signal-error.ts";

// What peers may do to each other in a room, each under a permission of the doer's role in the
// template (403 otherwise): remove a peer, end the room (or the server ends it: endByServer), change roles (asked or forced, or of every
// peer of some roles), ask others to mute or unmute, and put peers in or out of groups (hand raise).
// The server (the active-rooms API) may do the same without any permission: removeByServer, endByServer.
// The room does the effects (leave, applyRole); this decides who may and tells the peers concerned.

const MAX_GROUPS = 16;

export class RoomModeration {
  /** Role changes asked and not yet accepted, by token. */
  private readonly roleRequests = new Map<string, { target: string; role: string; by: string }>();

  constructor(private readonly room: SfuRoom) {}

  private require(peer: SfuPeer, permission: string, what: string): void {
    if (!this.room.permits(peer.identity.role, permission))
      throw new SignalError(
        "forbidden",
        "forbidden",
        `role ${peer.identity.role} may not ${what} (the template's ${permission} permission)`,
      );
  }

  /** A host removes another peer (its role needs removeOthers); the peer is told who and why. */
  async removePeer(by: SfuPeer, peerId: string, reason = ""): Promise<void> {
    this.require(by, "removeOthers", "remove peers");
    const target = this.room.peers.get(peerId);
    if (!target || target.identity.hidden) throw new SignalError("not_found", "not_found", `peer ${peerId} is not in this room`);
    await this.room.leave(target, "peer kicked", reason, { by: by.id, reason });
  }

  /** A host ends the room for everyone else (its role needs endRoom); `lock` is applied by the caller. */
  async endRoom(by: SfuPeer, reason = ""): Promise<void> {
    this.require(by, "endRoom", "end the room");
    const others = [...this.room.peers.values()].filter((p) => p !== by);
    await Promise.all(others.map((p) => this.room.leave(p, "peer kicked", reason || "room ended", { by: by.id, roomEnded: true, reason })));
  }

  /**
   * The server ends the room (it was disabled through the API: "server removed peer"; the active-rooms
   * API's end-room: "peer kicked"): every visible peer is removed (`room_ended`), told `reason` in plain
   * words, which is also the peer-left webhook's message. Hidden recorder peers stay: their recorders see
   * the room end and stop, finishing their files. Returns how many peers were removed.
   */
  async endByServer(reason: string, leaveReason: ServerLeaveReason = "server removed peer"): Promise<number> {
    const peers = this.room.visiblePeers();
    await Promise.all(peers.map((p) => this.room.leave(p, leaveReason, reason, { roomEnded: true, reason })));
    return peers.length;
  }

  /**
   * The server removes one peer or every peer of a role (the active-rooms API's remove-peers): "peer
   * kicked", as 100ms documents for a removal through its server API, `reason` as the peer-left
   * webhook's message and in the peer's error frame (no `removed_by`: no peer did it). 404 for a peer
   * not in the room, 400 for a role not in the template. Returns how many peers were removed.
   */
  async removeByServer(target: PeerTarget, reason: string): Promise<number> {
    let peers: SfuPeer[];
    if ("peerId" in target) {
      const peer = this.room.visiblePeer(target.peerId);
      if (!peer) throw new SignalError("not_found", "not_found", `peer ${target.peerId} is not in this room`);
      peers = [peer];
    } else {
      if (!this.room.isRole(target.role))
        throw new SignalError("invalid_body", "invalid_role", `role ${target.role} is not one of ${this.roleNames()}`);
      peers = this.room.visiblePeers().filter((p) => p.identity.role === target.role);
    }
    await Promise.all(peers.map((p) => this.room.leave(p, "peer kicked", reason, { reason })));
    return peers.length;
  }

  /** The template's roles a peer may take, for an error message. */
  roleNames(): string {
    return Object.keys(this.room.roles)
      .filter((r) => !r.startsWith("__"))
      .join(", ");
  }

  /**
   * A host asks one peer (one track of it with `track_id`), or every other peer (of some roles), to mute
   * or unmute. Muting needs the role's `mute` permission, asking to unmute its `unmute`; each peer's own
   * client acts on the request (the 100ms SDK mutes at once and asks its user before unmuting).
   */
  requestMute(by: SfuPeer, req: Extract<ClientMessage, { type: "mute-request" }>): void {
    this.require(by, req.mute ? "mute" : "unmute", req.mute ? "mute others" : "ask others to unmute");
    if (req.peer_id && req.roles)
      throw new SignalError("invalid_body", "invalid_message", "a mute-request names peer_id, or roles, or neither (everyone)");
    const { mute, kind, source } = req;
    if (req.peer_id) {
      const target = this.room.peers.get(req.peer_id);
      if (!target || target.identity.hidden) throw new SignalError("not_found", "not_found", `peer ${req.peer_id} is not in this room`);
      if (!req.track_id) return target.notify({ type: "mute-request", by: by.id, mute, kind, source });
      const track = target.published.get(req.track_id);
      if (!track) throw new SignalError("not_found", "not_found", `peer ${req.peer_id} publishes no track ${req.track_id}`);
      return target.notify({ type: "mute-request", by: by.id, mute, track_id: req.track_id, stream_id: track.info.stream_id });
    }
    if (req.track_id) throw new SignalError("invalid_body", "invalid_message", "track_id needs peer_id");
    const roles = req.roles && new Set(req.roles);
    for (const p of this.room.visiblePeers(by.id))
      if (!roles || roles.has(p.identity.role)) p.notify({ type: "mute-request", by: by.id, mute, kind, source });
  }

  /** A peer joins or leaves a group; another peer's membership needs `removeOthers`. Everyone, it too, is told. */
  group(by: SfuPeer, req: { name: string; peer_id?: string; join: boolean }): void {
    const target = req.peer_id && req.peer_id !== by.id ? this.room.peers.get(req.peer_id) : by;
    if (target !== by) this.require(by, "removeOthers", "put other peers in or out of groups");
    if (!target || target.identity.hidden) throw new SignalError("not_found", "not_found", `peer ${req.peer_id} is not in this room`);
    if (req.join === target.groups.has(req.name)) return;
    if (req.join && target.groups.size >= MAX_GROUPS)
      throw new SignalError("invalid_body", "too_many_groups", `a peer is in at most ${MAX_GROUPS} groups`);
    if (req.join) target.groups.add(req.name);
    else target.groups.delete(req.name);
    const update = { type: "peer-updated", peer: target.info() } as const;
    for (const p of this.room.visiblePeers()) p.notify(update);
  }

  /** A host changes another peer's role (its role needs changeRole): at once with `force`, else the peer is asked. */
  changeRole(by: SfuPeer, req: { peer_id?: string; roles?: string[]; role: string; force: boolean }): void {
    this.require(by, "changeRole", "change roles");
    const { role, force } = req;
    if (!ownValue(this.room.roles, role) || role.startsWith("__"))
      throw new SignalError("invalid_body", "invalid_role", `role ${role} is not one of ${Object.keys(this.room.roles).join(", ")}`);
    if (!req.peer_id === !req.roles)
      throw new SignalError("invalid_body", "invalid_message", "a change-role names either peer_id or roles");
    if (req.roles) {
      // Every peer of those roles (the one asking too, as 100ms does), at once.
      const from = new Set(req.roles);
      for (const p of this.room.visiblePeers())
        if (from.has(p.identity.role) && p.identity.role !== role) this.room.applyRole(p, role, by.id);
      return;
    }
    const target = this.room.peers.get(req.peer_id!);
    if (!target || target.identity.hidden) throw new SignalError("not_found", "not_found", `peer ${req.peer_id} is not in this room`);
    if (force) return this.room.applyRole(target, role, by.id);
    const token = randomUUID();
    this.roleRequests.set(token, { target: target.id, role, by: by.id });
    target.notify({ type: "role-change-request", role, by: by.id, token });
  }

  /** A peer accepts a role change it was asked for. */
  acceptRole(peer: SfuPeer, token: string): void {
    const req = this.roleRequests.get(token);
    if (!req || req.target !== peer.id) throw new SignalError("not_found", "not_found", "no role change request with this token for you");
    this.roleRequests.delete(token);
    this.room.applyRole(peer, req.role, req.by);
  }
}
