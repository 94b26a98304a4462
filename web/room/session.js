import { getLocalMedia, stopStream } from "./media.js";
import { Publisher } from "./publish.js";
import { Signal, signalUrl } from "./signal.js";
import { Subscriber } from "./subscribe.js";

// One attempt at being in the room: the signalling socket, the publish and subscribe connections, the
// peers present and the local media. It knows nothing of the DOM; it tells the page what happened
// through `ui` callbacks. A Rejoin makes a new RoomSession.

/**
 * @typedef {{
 *   joined(msg: any): void,
 *   peersChanged(peers: any[]): void,
 *   tracks(byPeer: Map<string, Record<string, MediaStreamTrack>>): void,
 *   localMedia(stream: MediaStream | null): void,
 *   publishing(sources: string[]): void,
 *   chat(msg: any): void,
 *   roomState(msg: {role: string, permissions: Record<string, boolean>, roles: string[], can_publish: string[]}): void,
 *   recordingState(msg: {recording: {browser: {running: boolean, paused: boolean}, sfu: {running: boolean}}, stream: {running: boolean}}): void,
 *   muteRequest(msg: {by: string, mute: boolean, kind?: string, source?: string, track_id?: string}): void,
 *   roleChangeRequest(msg: {role: string, by: string, token: string}): void,
 *   error(e: {message: string, fatal: boolean, code?: number, reason?: string}): void,
 *   ended(e: {kind: "left" | "error" | "disconnected" | "closed", message: string}): void,
 * }} SessionUi
 */

export class RoomSession {
  /**
   * @param {{ token: string, name: string, codec: string, media: {stream?: MediaStream|null, audio?: boolean, video?: boolean, cameraId?: string, micId?: string}, ui: SessionUi }} opts
   */
  constructor({ token, name, codec, media, ui }) {
    Object.assign(this, { token, name, codec, media, ui });
    this.self = null;
    this.sessionId = null;
    this.canPublish = [];
    /** peer id → PeerInfo */
    this.peers = new Map();
    this.localStream = null;
    this.publisher = null;
    this.ended = false;
    /** What this peer's role may do (room-state), once told. */
    this.permissions = {};
    this.roles = [];
    /** Requests waiting for their `done` or `error`, by ref. */
    this.pending = new Map();
    this.nextRef = 1;
    const send = (msg) => this.signal.send(msg);
    this.subscriber = new Subscriber({ send, onTracks: (byPeer) => this.ui.tracks(byPeer) });
  }

  start() {
    this.signal = new Signal({ url: signalUrl(), onMessage: (m) => this.onMessage(m), onClose: (e) => this.onSocketClosed(e) });
    this.signal.ready.then(() => this.signal.send({ type: "join", token: this.token, name: this.name })).catch(() => {});
  }

  onMessage(msg) {
    if (this.ended) return;
    switch (msg.type) {
      case "joined":
        this.self = msg.peer;
        this.sessionId = msg.session_id;
        this.canPublish = Array.isArray(msg.can_publish) ? msg.can_publish : [];
        for (const p of msg.peers ?? []) this.peers.set(p.id, p);
        this.ui.joined(msg);
        this.ui.peersChanged([...this.peers.values()]);
        void this.publishLocal();
        break;
      case "peer-joined":
      case "peer-updated":
        if (msg.peer?.id && msg.peer.id === this.self?.id) {
          // Itself, renamed or moved to another role by a host or the server.
          this.self = msg.peer;
          this.ui.peersChanged([...this.peers.values()]);
        } else if (msg.peer?.id) {
          this.peers.set(msg.peer.id, msg.peer);
          this.ui.peersChanged([...this.peers.values()]);
        }
        break;
      case "peer-left":
        if (this.peers.delete(msg.peer_id)) this.ui.peersChanged([...this.peers.values()]);
        break;
      case "publish-answer":
        this.publisher?.onAnswer(msg.sdp);
        break;
      case "subscribe-offer":
        void this.subscriber
          .onOffer(msg)
          .catch((err) => this.ui.error({ message: `Could not receive the others' media: ${err.message}`, fatal: false }));
        break;
      case "subscribe-reset":
        this.subscriber.onReset();
        break;
      case "chat":
        this.ui.chat(msg);
        break;
      case "room-state":
        this.permissions = msg.permissions ?? {};
        this.roles = msg.roles ?? [];
        if (this.self) this.self = { ...this.self, role: msg.role };
        // The first comes with `joined` (whose can_publish already applies); a later one follows a role change.
        if (this.roomStateSeen) void this.applyCanPublish(Array.isArray(msg.can_publish) ? msg.can_publish : []);
        this.roomStateSeen = true;
        this.ui.roomState(msg);
        break;
      case "recording-state":
        this.ui.recordingState(msg);
        break;
      case "role-changed":
        if (this.self) this.self = { ...this.self, role: msg.role };
        break;
      case "role-change-request":
        this.ui.roleChangeRequest(msg);
        break;
      case "mute-request":
        this.ui.muteRequest(msg);
        break;
      case "done":
        this.settle(msg.ref, null);
        break;
      case "error":
        if (msg.ref && this.pending.has(msg.ref)) {
          this.settle(msg.ref, msg);
          break;
        }
        this.ui.error({ message: msg.message, fatal: Boolean(msg.fatal), code: msg.code, reason: msg.reason });
        // Removed by the server (its media or connection was lost) or its SFU restarting: joining
        // again may well work, so the page offers Rejoin; any other fatal error ends the session view.
        if (!msg.fatal) break;
        if (msg.room_ended) this.end("closed", roomEndedMessage(msg, this.peers));
        // Removed on purpose (by a host, or by the server's API: removed_reason is set), not lost.
        else if (msg.reason === "removed" && (msg.removed_by || msg.removed_reason !== undefined))
          this.end("closed", removedMessage(msg, this.peers));
        else this.end(msg.reason === "removed" || msg.reason === "unavailable" ? "disconnected" : "error", msg.message);
        break;
      case "pong":
        break;
      default:
        console.warn("signal: unknown message type", msg.type);
    }
  }

  /** After `joined`: open (or keep) the camera and microphone the role may publish, and publish them. */
  async publishLocal() {
    // What the role may publish, less what the user turned off in the preview.
    const audio = this.canPublish.includes("audio") && this.media.audio !== false;
    const video = this.canPublish.includes("video") && this.media.video !== false;
    let stream = this.media.stream ?? null;
    if (stream) {
      for (const t of stream.getTracks()) {
        if ((t.kind === "audio" && !audio) || (t.kind === "video" && !video) || t.readyState === "ended") {
          t.stop();
          stream.removeTrack(t);
        }
      }
    } else if (audio || video) {
      const got = await getLocalMedia({ audio, video, cameraId: this.media.cameraId, micId: this.media.micId });
      stream = got.stream;
      if (got.problems.length) this.ui.error({ message: `${got.problems.join("; ")}. You are in the room without them.`, fatal: false });
    }
    this.media.stream = null; // handed over: this session owns (and stops) it now
    if (this.ended) return stopStream(stream);
    this.localStream = stream;
    this.ui.localMedia(stream);
    const entries = [];
    for (const track of stream?.getAudioTracks() ?? []) entries.push({ track, stream, source: "microphone" });
    for (const track of stream?.getVideoTracks() ?? []) entries.push({ track, stream, source: "camera" });
    if (entries.length === 0) return;
    await this.publish(entries);
  }

  async publish(entries) {
    this.publisher ??= new Publisher({ send: (m) => this.signal.send(m), codec: this.codec });
    try {
      await this.publisher.addTracks(entries);
    } catch (err) {
      if (!this.ended) this.ui.error({ message: `Could not publish: ${err.message}`, fatal: false });
    }
    if (!this.ended) this.ui.publishing(this.publisher.describeTracks().map((t) => t.source));
  }

  /** Mutes or unmutes the microphone; returns whether it is now on (null without one). */
  toggleMic() {
    return this.toggleTrack(this.localStream?.getAudioTracks()[0]);
  }

  /** Turns the camera off (black frames) or on; returns whether it is now on (null without one). */
  toggleCamera() {
    return this.toggleTrack(this.localStream?.getVideoTracks()[0]);
  }

  /** The track keeps flowing (silence or black frames); the others are told it is muted (`track-state`). */
  toggleTrack(track) {
    const on = toggle(track);
    if (on !== null && this.publisher?.describeTracks().some((t) => t.track_id === track.id))
      this.signal.send({ type: "track-state", tracks: [{ track_id: track.id, muted: !on }] });
    return on;
  }

  get sharingScreen() {
    return Boolean(this.publisher?.trackOf("screen"));
  }

  /** Starts a screen share (a new transceiver, a new offer with all tracks) or stops the current one. */
  async toggleScreen() {
    if (this.sharingScreen) {
      await this.publisher
        .removeSource("screen")
        .catch((err) => this.ui.error({ message: `Could not stop sharing: ${err.message}`, fatal: false }));
      this.ui.publishing(this.publisher.describeTracks().map((t) => t.source));
      return false;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 30 } }, audio: false });
    } catch (err) {
      if (err?.name !== "NotAllowedError") this.ui.error({ message: `Could not share the screen: ${err.message}`, fatal: false });
      return false;
    }
    if (this.ended) return (stopStream(stream), false);
    const track = stream.getVideoTracks()[0];
    track.addEventListener("ended", () => {
      if (!this.ended && this.publisher?.trackOf("screen") === track) void this.toggleScreen();
    });
    await this.publish([{ track, stream, source: "screen" }]);
    return true;
  }

  /**
   * Sends a request the SFU answers with `done` or an error (moderation, recording): resolves, or
   * rejects with the server's reason (its message) so the page can show why it was refused.
   */
  request(msg) {
    const ref = `r${this.nextRef++}`;
    return new Promise((resolve, reject) => {
      if (this.ended || !this.signal.send({ ...msg, ref })) return reject(new Error("You are not connected to the room."));
      this.pending.set(ref, { resolve, reject });
    });
  }

  settle(ref, error) {
    const p = this.pending.get(ref);
    if (!p) return;
    this.pending.delete(ref);
    if (error) p.reject(Object.assign(new Error(error.message), { code: error.code }));
    else p.resolve();
  }

  /**
   * Another peer changed this one's role: what it may publish follows the new role (room-state after
   * role-changed). A source it may no longer send is stopped; a role that may now send media opens it.
   */
  async applyCanPublish(canPublish) {
    const before = this.canPublish;
    this.canPublish = canPublish;
    const published = this.publisher?.describeTracks() ?? [];
    const may = { microphone: "audio", camera: "video", screen: "screen" };
    for (const t of published) {
      if (!canPublish.includes(may[t.source])) {
        const track = this.publisher.trackOf(t.source);
        await this.publisher.removeSource(t.source).catch(() => {});
        track?.stop();
        this.localStream?.removeTrack?.(track);
      }
    }
    if (published.length !== (this.publisher?.describeTracks().length ?? 0)) {
      this.ui.localMedia(this.localStream);
      this.ui.publishing(this.publisher.describeTracks().map((t) => t.source));
    }
    const gained = ["audio", "video"].some((k) => canPublish.includes(k) && !before.includes(k));
    const sending = this.publisher?.describeTracks() ?? [];
    if (gained && !sending.some((t) => t.source === "camera" || t.source === "microphone")) {
      stopStream(this.localStream);
      this.localStream = null;
      this.media = { ...this.media, stream: null, audio: undefined, video: undefined };
      await this.publishLocal();
    }
  }

  /** Mutes (or, asked and accepted, unmutes) the local microphone or camera; returns the sources changed. */
  setLocalMuted({ kind, source, muted }) {
    const tracks = [];
    if ((!kind || kind === "audio") && (!source || source === "microphone")) tracks.push(this.localStream?.getAudioTracks()[0]);
    if ((!kind || kind === "video") && (!source || source === "camera")) tracks.push(this.localStream?.getVideoTracks()[0]);
    const changed = [];
    for (const track of tracks) {
      if (!track || track.enabled === !muted) continue;
      this.toggleTrack(track);
      changed.push(track.kind);
    }
    return changed;
  }

  sendChat(message, { roles, peer_id } = {}) {
    const msg = { type: "chat", message };
    if (roles?.length) msg.roles = roles;
    if (peer_id) msg.peer_id = peer_id;
    return this.signal.send(msg);
  }

  leave() {
    if (this.ended) return;
    this.signal.send({ type: "leave" });
    this.end("left", "You left the room.");
  }

  end(kind, message) {
    if (this.ended) return;
    this.ended = true;
    for (const ref of [...this.pending.keys()]) this.settle(ref, { message: "The session ended." });
    this.signal.close();
    this.publisher?.close();
    this.subscriber.close();
    stopStream(this.localStream);
    stopStream(this.media.stream);
    this.ui.ended({ kind, message });
  }

  onSocketClosed({ code, reason, opened }) {
    if (this.ended) return;
    if (!opened) return this.end("disconnected", "Could not connect to the room server.");
    if (!this.self) return this.end("error", `Could not join: ${reason || `the server closed the connection (code ${code})`}`);
    this.end("disconnected", reason ? `The connection to the room was lost: ${reason}` : "The connection to the room was lost.");
  }
}

/** What a person removed by the room's end is told: who ended it (when it was a person) and why. */
function roomEndedMessage(msg, peers) {
  const by = msg.removed_by && peers.get(msg.removed_by)?.name;
  const why = msg.removed_reason && msg.removed_reason !== "room ended" ? ` (${msg.removed_reason})` : "";
  return by ? `${by} ended the room${why}.` : msg.message;
}

/** What a person removed by another (or by the server) is told. */
function removedMessage(msg, peers) {
  const why = msg.removed_reason ? ` (${msg.removed_reason})` : "";
  if (!msg.removed_by) return `You were removed from the room${why}.`;
  return `${peers.get(msg.removed_by)?.name ?? "A host"} removed you from the room${why}.`;
}

function toggle(track) {
  if (!track) return null;
  track.enabled = !track.enabled;
  return track.enabled;
}
