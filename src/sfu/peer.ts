import {
  MediaStream,
  MediaStreamTrack,
  RTCPeerConnection,
  type RTCDataChannel,
  type RTCIceCandidateInit,
  type RTCRtpTransceiver,
} from "werift";
import { AppError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { sfuPeerConfig } from "./media-config.ts";
import type { PeerInfo, PublishedTrack as PublishedTrackMsg, ServerMessage, SubscribedTrack } from "./protocol.ts";
import { PublishedTrack } from "./published-track.ts";
import { keepOfferedMediaOpen } from "./publish-check.ts";
import { forwardedCopy, openControlChannel } from "./forwarding.ts";
import type { IceTarget, PeerIdentity, Removal } from "./peer-types.ts";

export type { IceTarget, PeerIdentity, Removal } from "./peer-types.ts";

// One participant: its signalling socket, the connection it publishes on (it offers) and the one it
// receives on (the SFU offers). close() tears everything down exactly once.

interface Subscription {
  publisherId: string;
  trackId: string;
  transceiver: RTCRtpTransceiver;
  info: Omit<SubscribedTrack, "mid">;
  source: PublishedTrack;
  stop: () => void;
}

const NEGOTIATION_TIMEOUT_MS = 15_000;

export class SfuPeer {
  readonly published = new Map<string, PublishedTrack>();
  /** Groups it is in (the 100ms SDK's hand raise is `_handraise`). */
  readonly groups = new Set<string>();
  private publishPc: RTCPeerConnection | null = null;
  private subscribePc: RTCPeerConnection | null = null;
  private readonly subscriptions = new Map<string, Subscription>();
  private negotiating = false;
  private negotiateAgain = false;
  /** The subscribe connection was closed at least once (nothing left to receive). */
  private subscribeWasReset = false;
  private negotiationTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Announced tracks of the last publish message, by mid, waiting for their media to arrive. */
  private announced = new Map<string, PublishedTrackMsg>();
  /** Trickled candidates that came before their connection's remote description. */
  private readonly earlyCandidates: Record<IceTarget, RTCIceCandidateInit[]> = { publish: [], subscribe: [] };
  private control: RTCDataChannel | null = null;
  /** The publish offer's ICE username fragment: a new one is the client restarting ICE. */
  private publishUfrag: string | null = null;
  /** The next subscribe offer restarts ICE (the client's network changed, or the connection failed). */
  private restartSubscribeIce = false;
  /** Running while the publish connection is down for a reconnect peer: it leaves when it fires. */
  private lostTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly identity: PeerIdentity,
    private send: (msg: ServerMessage) => void,
    private readonly log: Logger,
    private readonly events: {
      onTrack: (peer: SfuPeer, track: PublishedTrack) => void;
      onTrackEnded: (peer: SfuPeer, track: PublishedTrack) => void;
      onConnectionLost: (peer: SfuPeer) => void;
      /** The server removed this peer (its media or connection was lost, a host removed it): tell it and close its socket. */
      onRemoved?: (peer: SfuPeer, message: string, by?: Removal) => void;
    },
  ) {}

  /** Its socket dropped (it may come back, see attach): what the SFU sends meanwhile goes nowhere. */
  detach(): void {
    this.send = () => {};
    this.events.onRemoved = undefined;
  }

  /** Its new socket after a reconnect: messages and a removal go there from now on. */
  attach(send: (msg: ServerMessage) => void, onRemoved: (peer: SfuPeer, message: string, by?: Removal) => void): void {
    this.send = send;
    this.events.onRemoved = onRemoved;
  }

  /**
   * After a reconnect: a subscribe offer sent while the socket was gone (or never answered) is sent
   * again, so that the subscribe connection catches up with what the peer should receive.
   */
  resumeSubscribe(): void {
    const pc = this.subscribePc;
    if (this.closed || !pc || pc.signalingState !== "have-local-offer" || !pc.localDescription) return;
    clearTimeout(this.negotiationTimer);
    this.negotiating = true;
    this.notify({ type: "subscribe-offer", sdp: pc.localDescription.sdp, tracks: this.subscribedTracks() });
    this.negotiationTimer = setTimeout(() => {
      this.log.warn("peer did not answer a subscribe offer in time");
      this.negotiationDone();
    }, NEGOTIATION_TIMEOUT_MS);
  }

  /** Called by the room when it removes this peer for a reason the peer did not ask for. */
  removed(message: string, by?: Removal): void {
    this.events.onRemoved?.(this, message, by);
  }

  get id(): string {
    return this.identity.id;
  }

  info(): PeerInfo {
    const { id, name, role, userId, userData, joinedAt } = this.identity;
    return {
      id,
      name,
      role,
      user_id: userId,
      user_data: userData,
      joined_at: joinedAt,
      tracks: [...this.published.values()].map((t) => t.info),
      groups: [...this.groups],
    };
  }

  notify(msg: ServerMessage): void {
    if (!this.closed) this.send(msg);
  }

  /** A publish offer: answer it; media arrives on the transceivers named by `tracks`. */
  async publish(sdp: string, tracks: PublishedTrackMsg[], ref?: string): Promise<void> {
    this.announced = new Map(tracks.map((t) => [t.mid, t]));
    for (const t of tracks) {
      const known = this.published.get(t.track_id);
      if (known && t.muted !== undefined) known.info.muted = t.muted;
    }
    // A track left out of a new publish offer is unpublished (e.g. a screen share stopped).
    const kept = new Set(tracks.map((t) => t.track_id));
    for (const [trackId, track] of this.published) {
      if (kept.has(trackId)) continue;
      this.published.delete(trackId);
      track.close();
      this.log.info({ track_id: trackId, source: track.info.source }, "track unpublished");
      this.events.onTrackEnded(this, track);
    }
    if (!this.publishPc) {
      const pc = new RTCPeerConnection(sfuPeerConfig());
      this.publishPc = pc;
      pc.onRemoteTransceiverAdded.subscribe((transceiver) => {
        transceiver.onTrack.subscribe((track) => this.trackArrived(transceiver, track));
      });
      pc.connectionStateChange.subscribe((state) => {
        if (state === "connected") clearTimeout(this.lostTimer);
        if ((state !== "failed" && state !== "closed") || this.closed) return;
        this.log.warn({ state, ice: pc.iceConnectionState }, "publish connection lost");
        this.connectionLost(state);
      });
    }
    // A new ICE username fragment: the client restarted ICE (its network changed); werift restarts
    // its side when it applies the offer, and the subscribe connection restarts too.
    const ufrag = /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1] ?? null;
    const restarted = this.publishUfrag !== null && ufrag !== null && ufrag !== this.publishUfrag;
    if (ufrag) this.publishUfrag = ufrag;
    const pc = this.publishPc;
    // The offer passed publish-check.ts; what werift still cannot apply is the peer's mistake, not ours.
    await pc.setRemoteDescription({ type: "offer", sdp }).catch((err: Error) => {
      throw new AppError("invalid_body", `the publish offer could not be applied: ${err.message}`);
    });
    await this.drainCandidates("publish");
    // Transceivers already carrying media whose announced track changed (renegotiation; an idle one,
    // whose source stopped, sending again).
    for (const t of pc.getTransceivers()) {
      if (t.receiver.track && t.mid && this.announced.has(t.mid) && !this.findPublishedByMid(t.mid)) this.trackArrived(t, t.receiver.track);
    }
    await pc.setLocalDescription(await pc.createAnswer());
    this.notify({ type: "publish-answer", sdp: keepOfferedMediaOpen(pc.localDescription!.sdp, sdp), ...(ref ? { ref } : {}) });
    if (restarted && this.subscribePc) {
      this.log.info("the client restarted ICE on its publish connection; restarting the subscribe connection's");
      this.restartSubscribeIce = true;
      void this.negotiate();
    }
  }

  /**
   * A media connection failed or closed. A reconnect peer gets the reconnect window to recover it (an
   * ICE restart; its subscribe connection is restarted from here); any other peer is gone at once.
   */
  private connectionLost(state: string): void {
    if (state !== "failed" || this.identity.reconnectMs <= 0) return this.events.onConnectionLost(this);
    if (this.lostTimer) return;
    this.lostTimer = setTimeout(() => {
      this.lostTimer = undefined;
      const states = [this.publishPc?.connectionState, this.subscribePc?.connectionState];
      if (!this.closed && states.some((s) => s !== undefined && s !== "connected")) this.events.onConnectionLost(this);
    }, this.identity.reconnectMs);
  }

  /** A trickled ICE candidate of the client's publish or subscribe connection. */
  async addIceCandidate(target: IceTarget, candidate: RTCIceCandidateInit): Promise<void> {
    const pc = target === "publish" ? this.publishPc : this.subscribePc;
    if (!pc?.remoteDescription) {
      if (this.earlyCandidates[target].length < 64) this.earlyCandidates[target].push(candidate);
      return;
    }
    await pc.addIceCandidate(candidate).catch((err: Error) => {
      throw new AppError("invalid_body", `the ${target} ICE candidate could not be added: ${err.message}`);
    });
  }

  private async drainCandidates(target: IceTarget): Promise<void> {
    const pc = target === "publish" ? this.publishPc : this.subscribePc;
    const waiting = this.earlyCandidates[target].splice(0);
    for (const c of waiting)
      await pc?.addIceCandidate(c).catch((err: Error) => this.log.info({ err: err.message }, "early ICE candidate refused"));
  }

  /** Its publisher muted or unmuted a track it sends (the track keeps flowing: black or silent). Returns whether anything changed. */
  setMuted(states: Array<{ track_id: string; muted: boolean }>): boolean {
    let changed = false;
    for (const { track_id, muted } of states) {
      const t = this.published.get(track_id);
      if (!t || t.info.muted === muted) continue;
      t.info.muted = muted;
      changed = true;
    }
    for (const a of this.announced.values()) {
      const s = states.find((x) => x.track_id === a.track_id);
      if (s) a.muted = s.muted;
    }
    return changed;
  }

  private findPublishedByMid(mid: string): PublishedTrack | undefined {
    const trackId = this.announced.get(mid)?.track_id;
    return trackId ? this.published.get(trackId) : undefined;
  }

  private trackArrived(transceiver: RTCRtpTransceiver, track: MediaStreamTrack): void {
    const announced = transceiver.mid ? this.announced.get(transceiver.mid) : undefined;
    if (!announced) {
      this.log.warn({ mid: transceiver.mid }, "media on a transceiver the peer did not announce; ignored");
      return;
    }
    if (this.published.has(announced.track_id)) return;
    if (track.kind !== announced.kind) {
      // publish-check.ts compares the offer's m-lines with the announcement; media of another kind is never forwarded.
      this.log.warn(
        { mid: transceiver.mid, kind: track.kind, announced: announced.kind },
        "media of a kind its announcement does not say; ignored",
      );
      return;
    }
    const { mid: _mid, muted, ...rest } = announced;
    const info = { ...rest, muted: muted ?? false };
    const published = new PublishedTrack(info, track, transceiver.receiver);
    this.published.set(info.track_id, published);
    this.log.info({ track_id: info.track_id, kind: info.kind, source: info.source, codec: track.codec?.mimeType }, "track published");
    this.events.onTrack(this, published);
  }

  hasSubscription(publisherId: string, trackId: string): boolean {
    return this.subscriptions.has(`${publisherId}/${trackId}`);
  }

  /** Starts forwarding another peer's track to this one (renegotiates the subscribe connection). */
  subscribe(publisher: SfuPeer, track: PublishedTrack): void {
    const key = `${publisher.id}/${track.info.track_id}`;
    if (this.closed || this.subscriptions.has(key)) return;
    const pc = this.ensureSubscribePc();
    const local = new MediaStreamTrack({ kind: track.info.kind });
    const transceiver = pc.addTransceiver(local, {
      direction: "sendonly",
      streams: [new MediaStream({ id: track.info.stream_id, tracks: [local] })],
    });
    if (track.codec) transceiver.codecs = [track.codec];
    const unlisten = track.listen((rtp) => local.writeRtp(forwardedCopy(rtp)));
    const pli = transceiver.sender.onPictureLossIndication.subscribe(() => track.requestKeyframe());
    const ready = transceiver.sender.onReady.subscribe(() => track.requestKeyframe());
    this.subscriptions.set(key, {
      publisherId: publisher.id,
      trackId: track.info.track_id,
      transceiver,
      info: { ...track.info, peer_id: publisher.id },
      source: track,
      stop: () => {
        unlisten();
        pli.unSubscribe();
        ready.unSubscribe();
      },
    });
    void this.negotiate();
  }

  /** The tracks forwarded to this peer now, with the werift sender of each (peer-stats samples them). */
  forwarded(): Array<{ info: Omit<SubscribedTrack, "mid">; source: PublishedTrack; sender: RTCRtpTransceiver["sender"] }> {
    return [...this.subscriptions.values()].map((s) => ({ info: s.info, source: s.source, sender: s.transceiver.sender }));
  }

  /** Stops forwarding every track of `publisherId` (it left), or only `trackId` of it. */
  unsubscribePeer(publisherId: string, trackId?: string): void {
    let changed = false;
    for (const [key, sub] of this.subscriptions) {
      if (sub.publisherId !== publisherId || (trackId !== undefined && sub.trackId !== trackId)) continue;
      sub.stop();
      try {
        this.subscribePc?.removeTrack(sub.transceiver.sender);
      } catch {
        /* already gone */
      }
      this.subscriptions.delete(key);
      changed = true;
    }
    if (!changed) return;
    // Nothing left to receive: werift would offer every m-line rejected (port 0), which tears down the
    // browser's bundled transport, and later offers on that connection fail. Start afresh instead.
    // A connection with a control channel keeps its application m-line, so it stays up with no media.
    if (this.subscriptions.size === 0 && !this.control) this.resetSubscribePc();
    else void this.negotiate();
  }

  private resetSubscribePc(): void {
    const pc = this.subscribePc;
    if (!pc) return;
    this.subscribePc = null;
    clearTimeout(this.negotiationTimer);
    this.negotiating = false;
    this.negotiateAgain = false;
    void pc.close().catch(() => {});
    this.subscribeWasReset = true;
    this.notify({ type: "subscribe-reset" });
  }

  /** A peer with a control channel gets its subscribe connection (and that channel) at once, media or not. */
  openSubscribe(): void {
    if (this.closed || !this.identity.controlChannel || this.subscribePc) return;
    this.ensureSubscribePc();
    void this.negotiate();
  }

  private ensureSubscribePc(): RTCPeerConnection {
    if (this.subscribePc) return this.subscribePc;
    const pc = new RTCPeerConnection(sfuPeerConfig());
    if (this.identity.controlChannel) this.control = openControlChannel(pc, this.identity.controlChannel);
    pc.connectionStateChange.subscribe((state) => {
      if (state === "connected") clearTimeout(this.lostTimer);
      if ((state !== "failed" && state !== "closed") || this.closed || pc !== this.subscribePc) return;
      this.log.warn({ state, ice: pc.iceConnectionState }, "subscribe connection lost");
      this.connectionLost(state);
      // The SDK cannot restart the subscribe side (it answers): the SFU offers anew with new credentials.
      if (state === "failed" && this.identity.reconnectMs > 0) {
        this.restartSubscribeIce = true;
        void this.negotiate();
      }
    });
    this.subscribePc = pc;
    return pc;
  }

  private async negotiate(): Promise<void> {
    if (this.closed || !this.subscribePc) return;
    if (this.negotiating) {
      this.negotiateAgain = true;
      return;
    }
    this.negotiating = true;
    this.negotiateAgain = false;
    try {
      const pc = this.subscribePc;
      const iceRestart = this.restartSubscribeIce;
      this.restartSubscribeIce = false;
      await pc.setLocalDescription(await pc.createOffer({ iceRestart }));
      this.notify({ type: "subscribe-offer", sdp: pc.localDescription!.sdp, tracks: this.subscribedTracks() });
      this.negotiationTimer = setTimeout(() => {
        this.log.warn("peer did not answer a subscribe offer in time");
        this.negotiationDone();
      }, NEGOTIATION_TIMEOUT_MS);
    } catch (err) {
      this.log.error({ err }, "subscribe negotiation failed");
      this.negotiationDone();
    }
  }

  /** The tracks of the current subscribe offer, by mid. */
  private subscribedTracks(): SubscribedTrack[] {
    const tracks: SubscribedTrack[] = [];
    for (const sub of this.subscriptions.values()) {
      if (sub.transceiver.mid) tracks.push({ ...sub.info, mid: sub.transceiver.mid });
    }
    return tracks;
  }

  async subscribeAnswer(sdp: string): Promise<void> {
    // An answer to an offer of a connection reset since (the page answered before it heard) is stale.
    if (!this.subscribePc && this.subscribeWasReset) return;
    if (!this.subscribePc || !this.negotiating) {
      throw new AppError("conflict", "no subscribe offer is waiting for an answer", {
        details: ["send a subscribe-answer only in reply to a subscribe-offer"],
      });
    }
    // Not an SDP at all: the offer keeps waiting for a real answer (until the negotiation timeout).
    if (!/^v=0\r?\n/.test(sdp) || !/^m=/m.test(sdp)) {
      throw new AppError("invalid_body", "subscribe-answer sdp is not an SDP answer with media sections");
    }
    try {
      await this.subscribePc.setRemoteDescription({ type: "answer", sdp }).catch((err: Error) => {
        throw new AppError("invalid_body", `the subscribe answer could not be applied: ${err.message}`);
      });
      await this.drainCandidates("subscribe");
    } finally {
      this.negotiationDone();
    }
    // New subscribers need a keyframe to start decoding.
    for (const sub of this.subscriptions.values()) sub.source.requestKeyframe();
  }

  private negotiationDone(): void {
    clearTimeout(this.negotiationTimer);
    this.negotiating = false;
    if (this.negotiateAgain) void this.negotiate();
  }

  /** Seconds since the last RTP of any published track (null if it publishes nothing). */
  msSinceLastMedia(now = Date.now()): number | null {
    if (this.published.size === 0) return null;
    return now - Math.max(...[...this.published.values()].map((t) => t.lastRtpAt));
  }

  /** Closes both connections; resolves when werift has released their sockets. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.negotiationTimer);
    clearTimeout(this.lostTimer);
    for (const sub of this.subscriptions.values()) sub.stop();
    this.subscriptions.clear();
    for (const t of this.published.values()) t.close();
    await Promise.all([this.publishPc?.close(), this.subscribePc?.close()].map((p) => p?.catch(() => {})));
  }
}
