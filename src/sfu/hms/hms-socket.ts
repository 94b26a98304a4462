import type { Logger } from "../../log.ts";
import type { ClientMessage, PeerInfo, ServerMessage } from "../protocol.ts";
import type { SignalSocket } from "../signal-socket.ts";
import type { RoomRecordingState } from "./recording-state.ts";
import { announceTracks, type HmsTrackState, hmsMessage, hmsPeer, hmsPeerRef, hmsTrack, withPublisherMsids } from "./hms-shapes.ts";

// The 100ms client protocol at the edge: the SDK's JSON-RPC over one WebSocket, turned into the SFU's
// own messages (protocol.ts) and back, so the SFU (in this process or a shard) has one signalling path.
// The SFU sees a SignalSocket speaking its protocol; the SDK sees 100ms.
//
//   SDK → SFU                                   SFU → SDK
//   join {name, data, offer}  → join + publish   joined + publish-answer → join result, peer-list
//   offer {desc, tracks}      → publish          publish-answer          → the offer's result
//   answer {desc}             → subscribe-answer subscribe-offer         → offer (msid: publisher's ids)
//   trickle {target 0|1}      → trickle          peer-joined / -left     → on-peer-join / on-peer-leave
//   track-update {tracks}     → track-state      peer-updated            → on-track-add/-remove/-update, on-peer-update
//   broadcast                 → chat             chat                    → on-broadcast (the sender gets its result)
//   peer-update {name, data}  → update-peer      error                   → the request's error, or on-error /
//   peer-leave-request        → remove-peer                                 on-peer-leave-request (removed)
//   end-room {lock, reason}   → end-room         done                    → the request's (empty) result
//   role-change-request       → change-role      role-change-request     → on-role-change-request
//   role-change {token}       → accept-role      role-changed            → on-policy-change (the new role)
//   track-update-request      → mute-request     mute-request            → on-track-update-request, or
//   change-track-mute-state-request → mute-request                          on-change-track-mute-state-request
//   leave                     → leave
//
// Reconnection: the SDK, after losing its socket, calls /init again and opens a new socket with the
// same `peer`, then sends a publish `offer` (never `join` again). A socket whose first request is such
// an offer is that peer coming back: it is resumed (`resume`: the SFU kept the peer, joined with
// `reconnect`, for the reconnect window), the SDK gets a fresh peer-list (it diffs it with what it
// knew) and any subscribe offer it missed.
//   ping, analytics: answered / dropped here
//
// Methods tapedeck does not implement yet are answered with error 405, which the SDK reports to the app.

/** The SFU's name for the data channel the SDK expects on its subscribe connection. */
export const HMS_CONTROL_CHANNEL = "ion-sfu";

interface RpcFrame {
  id?: string | number;
  method?: string;
  params?: Record<string, unknown>;
}

export interface HmsSocketOptions {
  /** The app token and peer id from the socket's URL (`?token=…&peer=…`). */
  token: string;
  peerId: string;
  /** on-policy-change for this token, or the error that refuses it. */
  policy: () => Promise<{ policy: object } | { code: number; message: string }>;
  /** The room's recording and live-stream state, now and at each change (recording-state.ts); returns the unsubscribe. */
  watchRecordings?: (roomId: string, fn: (s: RoomRecordingState) => void) => () => void;
  /** The live stream's playlist URL, for the SDK's HLS state. */
  hlsUrl?: (roomId: string) => Promise<string>;
  log: Logger;
}

export class HmsSocket implements SignalSocket {
  private toSfu: ((text: string) => void) | null = null;
  private readonly pending: string[] = [];
  /** JSON-RPC ids waiting for the SFU's answer, by the `ref` sent with it. */
  private readonly calls = new Map<string, string | number>();
  private joinCall: { id: string | number; offer: string } | null = null;
  private joined: Extract<ServerMessage, { type: "joined" }> | null = null;
  /** Subscribe offers held until the join's result is out (the SDK ignores them before). */
  private heldOffers: string[] | null = [];
  /** What this peer was last told about each other peer, to turn peer-updated into track events. */
  private readonly known = new Map<string, PeerInfo>();
  private nextRef = 1;
  private recordings: RoomRecordingState | null = null;
  /** The policy sent at connect: a role change resends it with the new role's name. */
  private policy: object | null = null;
  private unwatch: (() => void) | null = null;
  /** A resume was asked for (this socket is a reconnect of the peer). */
  private resuming = false;

  constructor(
    private readonly ws: SignalSocket,
    private readonly o: HmsSocketOptions,
  ) {
    ws.onMessage((text) => this.fromClient(text));
    void o.policy().then((r) => {
      if ("policy" in r) {
        this.policy = r.policy;
        return this.notify("on-policy-change", r.policy);
      }
      this.notify("on-error", { code: r.code, message: r.message });
      ws.close(4000 + Math.min(r.code, 999), r.message.slice(0, 120));
    });
  }

  // SignalSocket, as the SFU sees it.
  onMessage(fn: (text: string) => void): void {
    this.toSfu = fn;
    for (const m of this.pending.splice(0)) fn(m);
  }

  onClose(fn: () => void): void {
    this.ws.onClose(() => {
      this.unwatch?.();
      fn();
    });
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }

  send(text: string): void {
    let msg: ServerMessage;
    try {
      msg = JSON.parse(text) as ServerMessage;
    } catch {
      return;
    }
    this.fromSfu(msg);
  }

  private sfu(msg: ClientMessage): void {
    const text = JSON.stringify(msg);
    if (this.toSfu) this.toSfu(text);
    else this.pending.push(text);
  }

  private frame(f: object): void {
    this.ws.send(JSON.stringify(f));
  }

  private notify(method: string, params: unknown): void {
    this.frame({ method, params });
  }

  private reply(id: string | number, result: unknown): void {
    // The SDK treats a falsy result as a failure.
    this.frame({ id, result: result || {} });
  }

  private replyError(id: string | number, code: number, message: string): void {
    this.frame({ id, error: { code, message } });
  }

  /** The JSON-RPC call waiting for the SFU's answer carrying `ref`, forgotten once taken. */
  private takeCall(ref: string | undefined): string | number | undefined {
    if (!ref) return undefined;
    const id = this.calls.get(ref);
    this.calls.delete(ref);
    return id;
  }

  /** A ref for a message whose answer must reach JSON-RPC call `id`. */
  private call(id: string | number): string {
    const ref = `hms-${this.nextRef++}`;
    this.calls.set(ref, id);
    return ref;
  }

  private fromClient(text: string): void {
    let f: RpcFrame;
    try {
      f = JSON.parse(text) as RpcFrame;
    } catch {
      return this.notify("on-warning", { code: 400, message: "not JSON" });
    }
    const p = (f.params ?? {}) as Record<string, unknown>;
    const id = f.id;
    switch (f.method) {
      case "ping":
        if (id !== undefined) this.reply(id, { timestamp: Date.now() });
        return;
      case "analytics":
        return; // the SDK's client events: nothing tapedeck keeps
      case "join": {
        if (id === undefined) return;
        const offer = (p.offer as { sdp?: unknown } | undefined)?.sdp;
        if (this.joinCall || this.joined) return this.replyError(id, 409, "already joined");
        if (typeof offer !== "string") return this.replyError(id, 400, "join needs the publish connection's offer");
        this.joinCall = { id, offer };
        return this.sfu({
          type: "join",
          token: this.o.token,
          name: typeof p.name === "string" ? p.name : "",
          user_data: typeof p.data === "string" ? p.data : p.data === undefined ? undefined : JSON.stringify(p.data),
          peer_id: this.o.peerId,
          control_channel: HMS_CONTROL_CHANNEL,
          reconnect: true,
          ref: this.call(id),
        });
      }
      case "offer": {
        if (id === undefined) return;
        const sdp = (p.desc as { sdp?: unknown } | undefined)?.sdp;
        if (typeof sdp !== "string") return this.replyError(id, 400, "offer needs desc.sdp");
        const tracks = announceTracks(sdp, (p.tracks ?? {}) as Record<string, Partial<HmsTrackState>>);
        // No join on this socket: the SDK is back after losing its socket, as the peer it was.
        if (!this.joined && !this.joinCall && !this.resuming) {
          this.resuming = true;
          this.sfu({ type: "resume", token: this.o.token, peer_id: this.o.peerId });
        }
        return this.sfu({ type: "publish", sdp, tracks, ref: this.call(id) });
      }
      case "answer": {
        const sdp = (p.desc as { sdp?: unknown } | undefined)?.sdp;
        if (typeof sdp === "string") this.sfu({ type: "subscribe-answer", sdp });
        return;
      }
      case "trickle": {
        const candidate = p.candidate as { candidate?: unknown } | undefined;
        if (!candidate || typeof candidate.candidate !== "string" || !candidate.candidate) return;
        const { sdpMid, sdpMLineIndex, usernameFragment } = candidate as Record<string, never>;
        this.sfu({
          type: "trickle",
          target: p.target === 1 ? "subscribe" : "publish",
          candidate: { candidate: candidate.candidate, sdpMid, sdpMLineIndex, usernameFragment },
        });
        return;
      }
      case "track-update": {
        const tracks = Object.entries((p.tracks ?? {}) as Record<string, { mute?: unknown }>).map(([track_id, t]) => ({
          track_id,
          muted: t.mute === true,
        }));
        if (tracks.length) this.sfu({ type: "track-state", tracks: tracks.slice(0, 6) });
        return;
      }
      case "broadcast": {
        if (id === undefined) return;
        const info = (p.info ?? {}) as { message?: unknown };
        const message = typeof info.message === "string" ? info.message : JSON.stringify(info.message ?? "");
        return this.sfu({
          type: "chat",
          message,
          ...(Array.isArray(p.roles) && p.roles.length ? { roles: p.roles as string[] } : {}),
          ...(typeof p.peer_id === "string" ? { peer_id: p.peer_id } : {}),
          ref: this.call(id),
        });
      }
      case "peer-update": {
        if (id === undefined) return;
        return this.sfu({
          type: "update-peer",
          ...(typeof p.name === "string" ? { name: p.name } : {}),
          ...(typeof p.data === "string" ? { user_data: p.data } : {}),
          ref: this.call(id),
        });
      }
      case "peer-leave-request": {
        if (id === undefined) return;
        if (typeof p.requested_for !== "string") return this.replyError(id, 400, "peer-leave-request needs requested_for");
        return this.sfu({
          type: "remove-peer",
          peer_id: p.requested_for,
          ...(typeof p.reason === "string" ? { reason: p.reason } : {}),
          ref: this.call(id),
        });
      }
      case "end-room": {
        if (id === undefined) return;
        return this.sfu({
          type: "end-room",
          ...(typeof p.reason === "string" ? { reason: p.reason } : {}),
          lock: p.lock === true,
          ref: this.call(id),
        });
      }
      case "role-change-request": {
        if (id === undefined) return;
        if (typeof p.role !== "string") return this.replyError(id, 400, "role-change-request needs role");
        if (Array.isArray(p.roles))
          return this.sfu({ type: "change-role", roles: p.roles as string[], role: p.role, force: true, ref: this.call(id) });
        if (typeof p.requested_for !== "string") return this.replyError(id, 400, "role-change-request needs requested_for or roles");
        return this.sfu({ type: "change-role", peer_id: p.requested_for, role: p.role, force: p.force === true, ref: this.call(id) });
      }
      case "role-change": {
        if (id === undefined) return;
        if (typeof p.token !== "string") return this.replyError(id, 400, "role-change needs the request's token");
        return this.sfu({ type: "accept-role", token: p.token, ref: this.call(id) });
      }
      case "track-update-request": {
        if (id === undefined) return;
        if (typeof p.requested_for !== "string" || typeof p.track_id !== "string")
          return this.replyError(id, 400, "track-update-request needs requested_for and track_id");
        return this.sfu({
          type: "mute-request",
          peer_id: p.requested_for,
          track_id: p.track_id,
          mute: p.mute === true,
          ref: this.call(id),
        });
      }
      case "change-track-mute-state-request": {
        if (id === undefined) return;
        const kind = p.type === "audio" || p.type === "video" ? p.type : undefined;
        return this.sfu({
          type: "mute-request",
          ...(Array.isArray(p.roles) && p.roles.length ? { roles: p.roles as string[] } : {}),
          ...(typeof p.requested_for === "string" ? { peer_id: p.requested_for } : {}),
          ...(kind ? { kind } : {}),
          ...sourceOf(p.source, kind),
          mute: p.value === true,
          ref: this.call(id),
        });
      }
      case "leave":
        return this.sfu({ type: "leave" });
      default:
        if (id !== undefined) this.replyError(id, 405, `${String(f.method)} is not supported by tapedeck`);
    }
  }

  private fromSfu(msg: ServerMessage): void {
    switch (msg.type) {
      case "joined": {
        this.joined = msg;
        for (const p of msg.peers) this.known.set(p.id, p);
        if (msg.resumed) {
          // Back on a new socket: the policy of the role it has now (it may have changed since the
          // token), then the room as it is (the SDK diffs it with what it knew) and missed offers.
          if (this.policy) this.notify("on-policy-change", { ...this.policy, name: msg.peer.role });
          return this.afterJoin();
        }
        // The peer is in: its join offer (only a data channel so far) goes to the SFU as its first publish.
        if (this.joinCall) this.sfu({ type: "publish", sdp: this.joinCall.offer, tracks: [], ref: this.call(this.joinCall.id) });
        return;
      }
      case "publish-answer": {
        const id = this.takeCall(msg.ref);
        if (id === undefined) return;
        this.reply(id, { type: "answer", sdp: msg.sdp });
        if (this.joinCall && id === this.joinCall.id) this.afterJoin();
        return;
      }
      case "subscribe-offer": {
        const sdp = withPublisherMsids(msg.sdp, msg.tracks);
        if (this.heldOffers) this.heldOffers.push(sdp);
        else this.notify("offer", { type: "offer", sdp });
        return;
      }
      case "subscribe-reset":
        return; // not with a control channel
      case "peer-joined":
        this.known.set(msg.peer.id, msg.peer);
        return this.notify("on-peer-join", hmsPeer(msg.peer));
      case "peer-left":
        this.known.delete(msg.peer_id);
        return this.notify("on-peer-leave", { peer_id: msg.peer_id });
      case "peer-updated":
        return this.peerUpdated(msg.peer);
      case "chat": {
        const id = this.takeCall(msg.ref);
        if (id !== undefined) {
          return this.reply(id, { message_id: msg.id, timestamp: Date.parse(msg.sent_at) });
        }
        return this.notify("on-broadcast", hmsMessage(msg));
      }
      case "error":
        return this.sfuError(msg);
      case "role-changed":
        // The SDK publishes and unpublishes for its new role when its policy's name changes.
        if (this.policy) this.notify("on-policy-change", { ...this.policy, name: msg.role });
        return;
      case "role-change-request":
        return this.notify("on-role-change-request", { requested_by: msg.by, role: msg.role, token: msg.token });
      case "done": {
        const id = this.takeCall(msg.ref);
        if (id !== undefined) this.reply(id, {});
        return;
      }
      case "mute-request":
        if (msg.track_id)
          return this.notify("on-track-update-request", {
            requested_by: msg.by,
            track_id: msg.track_id,
            stream_id: msg.stream_id,
            mute: msg.mute,
          });
        return this.notify("on-change-track-mute-state-request", {
          requested_by: msg.by,
          ...(msg.kind ? { type: msg.kind } : {}),
          ...(msg.source ? { source: msg.source === "screen" ? "screen" : "regular" } : {}),
          value: msg.mute,
        });
      case "pong":
        return;
    }
  }

  private afterJoin(): void {
    const j = this.joined;
    this.joinCall = null;
    if (!j) return;
    this.notify("peer-list", {
      peers: Object.fromEntries(j.peers.map((p) => [p.id, hmsPeer(p)])),
      room: { name: j.room.name, session_id: j.session_id },
    });
    const held = this.heldOffers ?? [];
    this.heldOffers = null;
    for (const sdp of held) this.notify("offer", { type: "offer", sdp });
    this.unwatch = this.o.watchRecordings?.(j.room.id, (s) => void this.recordingsChanged(j.room.id, s)) ?? null;
  }

  /** The SDK's recording and HLS state follow tapedeck's SFU recording, browser recording and live stream. */
  private async recordingsChanged(roomId: string, now: RoomRecordingState): Promise<void> {
    const before = this.recordings;
    this.recordings = now;
    const state = (running: boolean, paused = false) => (running ? (paused ? "paused" : "started") : "stopped");
    if (!before || before.sfu.running !== now.sfu.running)
      this.notify("on-record-update", { type: "sfu", state: state(now.sfu.running), started_at: now.sfu.startedAt });
    if (!before || before.browser.running !== now.browser.running || before.browser.paused !== now.browser.paused)
      this.notify("on-record-update", {
        type: "Browser",
        state: state(now.browser.running, now.browser.paused),
        started_at: now.browser.startedAt,
      });
    if (!before || before.hls.running !== now.hls.running) {
      const url = now.hls.running ? await this.o.hlsUrl?.(roomId).catch(() => "") : "";
      this.notify("on-hls-update", {
        enabled: now.hls.running,
        variants: now.hls.running ? [{ url, state: "started", started_at: now.hls.startedAt, playlist_type: "dvr" }] : [],
      });
    }
  }

  private peerUpdated(now: PeerInfo): void {
    const before = this.known.get(now.id);
    this.known.set(now.id, now);
    if (!before) return this.notify("on-peer-join", hmsPeer(now));
    const peer = hmsPeerRef(now);
    const old = new Map(before.tracks.map((t) => [t.track_id, t]));
    const added = now.tracks.filter((t) => !old.has(t.track_id));
    const removed = before.tracks.filter((t) => !now.tracks.some((n) => n.track_id === t.track_id));
    const changed = now.tracks.filter((t) => old.has(t.track_id) && old.get(t.track_id)!.muted !== t.muted);
    const map = (ts: typeof now.tracks) => Object.fromEntries(ts.map((t) => [t.track_id, hmsTrack(t)]));
    if (added.length) this.notify("on-track-add", { peer, tracks: map(added) });
    if (removed.length) this.notify("on-track-remove", { peer, tracks: map(removed) });
    if (changed.length) this.notify("on-track-update", { peer, tracks: map(changed) });
    if (before.name !== now.name || before.role !== now.role || before.user_data !== now.user_data)
      this.notify("on-peer-update", hmsPeer(now));
  }

  private sfuError(msg: Extract<ServerMessage, { type: "error" }>): void {
    const id = this.takeCall(msg.ref);
    if (id !== undefined) {
      if (this.joinCall && id === this.joinCall.id) this.joinCall = null;
      return this.replyError(id, msg.code, msg.message);
    }
    if (msg.reason === "removed")
      return this.notify("on-peer-leave-request", {
        ...(msg.removed_by ? { requested_by: msg.removed_by } : {}),
        reason: msg.removed_reason || msg.message,
        room_end: msg.room_ended === true,
      });
    if (msg.fatal) return this.notify("on-error", { code: msg.code, message: msg.message });
    this.o.log.info({ code: msg.code, message: msg.message }, "100ms client: a message was refused");
    this.notify("on-warning", { code: msg.code, message: msg.message });
  }
}

/** The SFU's track source for the SDK's `source` ("regular" is the camera or microphone, by `type`). */
function sourceOf(source: unknown, kind: "audio" | "video" | undefined): { source?: "camera" | "microphone" | "screen" } {
  if (source === "screen") return { source: "screen" };
  if (source === "regular" && kind) return { source: kind === "audio" ? "microphone" : "camera" };
  return {};
}
