import type { Logger } from "../../log.ts";
import type { ClientMessage, PeerInfo, ServerMessage } from "../protocol.ts";
import type { SignalSocket } from "../signal-socket.ts";
import { AppError } from "../../errors.ts";
import type { RoomRecordingState } from "./recording-state.ts";
import type { RecordingControl, RecordingMethod } from "./recording-control.ts";
import { sfuRequest } from "./hms-requests.ts";
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
//   broadcast                 → chat             chat                    → on-broadcast (the sender gets its result;
//                                                                            the server's has no peer)
//   peer-update {name, data}  → update-peer      error                   → the request's error, or on-error /
//   peer-leave-request        → remove-peer                                 on-peer-leave-request (removed)
//   end-room {lock, reason}   → end-room         done                    → the request's (empty) result
//   role-change-request       → change-role      role-change-request     → on-role-change-request
//   role-change {token}       → accept-role      role-changed            → on-policy-change (the new role)
//   track-update-request      → mute-request     mute-request            → on-track-update-request, or
//   change-track-mute-state-request → mute-request                          on-change-track-mute-state-request
//   group-join/-leave/-add/-remove → group          peer-updated (own)      → on-peer-update (hand raise)
//   set-metadata, get-metadata → set-/get-session-data   session-data        → the call's result, on-metadata-change
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
  /** Starts and stops recordings and live streams for the SDK's calls (recording-control.ts). */
  recordingControl?: RecordingControl;
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
  /** This peer as the SFU last described it (its groups: the SDK learns its own hand raise from on-peer-update). */
  private self: PeerInfo | null = null;
  /** Session store keys the app observes (listen-metadata-change): their changes are pushed. */
  private observed = new Set<string>();
  /** Refs of get-session-data asked to push a newly observed key's value. */
  private readonly pushes = new Set<string>();

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
    if (typeof f !== "object" || f === null || Array.isArray(f))
      return this.notify("on-warning", { code: 400, message: "not a JSON-RPC object" });
    const p = (typeof f.params === "object" && f.params !== null ? f.params : {}) as Record<string, unknown>;
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
      case "listen-metadata-change": {
        if (id === undefined) return;
        const keys = Array.isArray(p.keys) ? p.keys.filter((k): k is string => typeof k === "string").slice(0, 100) : [];
        const added = keys.filter((k) => !this.observed.has(k));
        this.observed = new Set(keys);
        this.reply(id, {});
        // A late joiner sees what is already there: the SDK's observe() never asks for it.
        for (const key of added) {
          const ref = `hms-push-${this.nextRef++}`;
          this.pushes.add(ref);
          this.sfu({ type: "get-session-data", key, ref });
        }
        return;
      }
      case "rtmp-start":
      case "rtmp-stop":
      case "hls-start":
      case "hls-stop":
        if (id !== undefined) void this.controlRecording(id, f.method, p);
        return;
      default: {
        const msg = sfuRequest(String(f.method), p, id === undefined ? undefined : () => this.call(id));
        if (msg === undefined) {
          if (id !== undefined) this.replyError(id, 405, `${String(f.method)} is not supported by tapedeck`);
        } else if (msg && "code" in msg) {
          if (id !== undefined) this.replyError(id, msg.code, msg.message);
        } else if (msg) this.sfu(msg);
      }
    }
  }

  private fromSfu(msg: ServerMessage): void {
    switch (msg.type) {
      case "joined": {
        this.joined = msg;
        this.self = msg.peer;
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
        if (this.self) this.self = { ...this.self, role: msg.role };
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
      case "session-data": {
        const value = { key: msg.key, data: msg.data, change_version: msg.version, updated_by: msg.updated_by, updated_at: msg.updated_at };
        const id = this.takeCall(msg.ref);
        if (id !== undefined) return this.reply(id, value);
        if (msg.ref && this.pushes.delete(msg.ref)) {
          if (msg.version > 0) this.notify("on-metadata-change", { values: [value] });
          return;
        }
        if (this.observed.has(msg.key)) this.notify("on-metadata-change", { values: [value] });
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

  private async controlRecording(id: string | number, method: RecordingMethod, params: Record<string, unknown>): Promise<void> {
    const room = this.joined?.room;
    if (!room || !this.self || !this.o.recordingControl) return this.replyError(id, 409, `join the room before ${method}`);
    try {
      this.reply(id, await this.o.recordingControl(method, params, { roomId: room.id, role: this.self.role, peerId: this.self.id }));
    } catch (err) {
      const e = err instanceof AppError ? err : null;
      if (!e || e.status >= 500) this.o.log.error({ err, method }, "100ms client: a recording call failed");
      this.replyError(id, e?.status ?? 500, e ? (e.details[0] ? `${e.message}: ${e.details[0]}` : e.message) : `${method} failed`);
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

  /** The SDK's recording, RTMP and HLS state follow tapedeck's SFU recording, browser recording, external stream and live stream. */
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
    if (!before || before.rtmp.running !== now.rtmp.running)
      this.notify("on-rtmp-update", { state: state(now.rtmp.running), started_at: now.rtmp.startedAt });
    if (!before || before.hls.running !== now.hls.running) {
      const url = now.hls.running ? await this.o.hlsUrl?.(roomId).catch(() => "") : "";
      this.notify("on-hls-update", {
        enabled: now.hls.running,
        variants: now.hls.running ? [{ url, state: "started", started_at: now.hls.startedAt, playlist_type: "dvr" }] : [],
      });
    }
  }

  private peerUpdated(now: PeerInfo): void {
    if (now.id === this.self?.id) {
      // Its own update: groups (a raised or lowered hand), or a name or metadata the server changed (the
      // active-rooms API) are news to the SDK; a role change came as on-policy-change.
      const before = this.self;
      const changed = now.groups.join() !== before.groups.join() || now.name !== before.name || now.user_data !== before.user_data;
      this.self = now;
      if (changed) this.notify("on-peer-update", hmsPeer(now));
      return;
    }
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
    if (
      before.name !== now.name ||
      before.role !== now.role ||
      before.user_data !== now.user_data ||
      before.groups.join() !== now.groups.join()
    )
      this.notify("on-peer-update", hmsPeer(now));
  }

  private sfuError(msg: Extract<ServerMessage, { type: "error" }>): void {
    const id = this.takeCall(msg.ref);
    if (id !== undefined) {
      if (this.joinCall && id === this.joinCall.id) this.joinCall = null;
      return this.replyError(id, msg.code, msg.message);
    }
    // Removed by a peer (removed_by), or by the server (the room disabled, the active-rooms API): no requested_by.
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
