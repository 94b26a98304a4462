import { waitForIceGathering } from "./media.js";

// The subscribe RTCPeerConnection: the SFU offers everyone else's tracks, the page answers. It is made
// on the first `subscribe-offer`; every later offer renegotiates it. After each offer the page works out
// afresh which receiver track belongs to which peer and source (from the offer's `tracks[]`, by mid),
// rather than relying on `track` events, which do not fire again when the SFU reuses an m-line.

export class Subscriber {
  /**
   * @param {{ send: (msg: object) => boolean, onTracks: (byPeer: Map<string, Record<string, MediaStreamTrack>>) => void }} opts
   */
  constructor({ send, onTracks }) {
    this.send = send;
    this.onTracks = onTracks;
    this.pc = null;
    this.queue = Promise.resolve();
    this.closed = false;
    /** mid → SubscribedTrack of the latest offer */
    this.tracksByMid = new Map();
  }

  /** A `subscribe-offer`: handled after any earlier one has been answered. */
  onOffer(msg) {
    const run = this.queue.then(() => this.answer(msg));
    this.queue = run.catch((err) => console.error("subscribe-offer failed", err));
    return run;
  }

  async answer({ sdp, tracks }) {
    if (this.closed) return;
    if (!this.pc) {
      this.pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
      this.pc.addEventListener("track", () => this.reconcile());
    }
    this.tracksByMid = new Map((tracks ?? []).map((t) => [t.mid, t]));
    await this.pc.setRemoteDescription({ type: "offer", sdp });
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    await waitForIceGathering(this.pc);
    if (this.closed) return;
    this.send({ type: "subscribe-answer", sdp: this.pc.localDescription.sdp });
    this.reconcile();
  }

  /** `subscribe-reset`: the SFU closed the connection (nothing left to receive); the next offer makes a new one. */
  onReset() {
    this.queue = this.queue.then(() => {
      this.pc?.close();
      this.pc = null;
      this.tracksByMid = new Map();
      this.reconcile();
    });
  }

  /** peer id → { camera?, microphone?, screen? } receiver tracks, as the latest offer maps them. */
  currentTracks() {
    const byPeer = new Map();
    if (!this.pc) return byPeer;
    for (const transceiver of this.pc.getTransceivers()) {
      const info = transceiver.mid ? this.tracksByMid.get(transceiver.mid) : undefined;
      if (!info || transceiver.currentDirection === "stopped" || transceiver.currentDirection === "inactive") continue;
      const track = transceiver.receiver.track;
      if (!track || track.kind !== info.kind) continue;
      const entry = byPeer.get(info.peer_id) ?? {};
      entry[info.source] = track;
      byPeer.set(info.peer_id, entry);
    }
    return byPeer;
  }

  reconcile() {
    if (!this.closed) this.onTracks(this.currentTracks());
  }

  /** inbound-rtp stats of the receiver for one peer's source, plus the codec's `mimeType`, as a plain object (or null). */
  async inboundStats(peerId, source) {
    if (!this.pc) return null;
    for (const transceiver of this.pc.getTransceivers()) {
      const info = transceiver.mid ? this.tracksByMid.get(transceiver.mid) : undefined;
      if (!info || info.peer_id !== peerId || info.source !== source) continue;
      const report = await transceiver.receiver.getStats();
      for (const s of report.values()) {
        if (s.type === "inbound-rtp") return { ...s, mimeType: s.codecId ? report.get(s.codecId)?.mimeType : undefined };
      }
    }
    return null;
  }

  /**
   * The level (0..1, linear) of the audio now received from a peer's source (the microphone by
   * default), or null without such a track: from the RTP sources when the SFU forwards the audio-level
   * header extension, else from the receiver's inbound-rtp stats (measured on the decoded audio).
   */
  async audioLevel(peerId, source = "microphone") {
    const receiver = this.receiverOf(peerId, source);
    if (!receiver) return null;
    const fromRtp = receiver.getSynchronizationSources?.().find((s) => typeof s.audioLevel === "number");
    if (fromRtp) return fromRtp.audioLevel;
    const report = await receiver.getStats();
    for (const s of report.values()) if (s.type === "inbound-rtp") return typeof s.audioLevel === "number" ? s.audioLevel : null;
    return null;
  }

  receiverOf(peerId, source) {
    for (const transceiver of this.pc?.getTransceivers() ?? []) {
      const info = transceiver.mid ? this.tracksByMid.get(transceiver.mid) : undefined;
      if (info && info.peer_id === peerId && info.source === source) return transceiver.receiver;
    }
    return null;
  }

  close() {
    this.closed = true;
    this.pc?.close();
  }
}
