import { preferVideoCodec, waitForIceGathering } from "./media.js";

// The publish RTCPeerConnection: the page offers its send-only tracks, the SFU answers. Every change of
// the published set (first publish, screen share on or off) is a new offer on the same connection, with
// a `publish` message listing every track still sent. Negotiations run one at a time.
//
// A stopped source leaves its transceiver idle (inactive, no track) rather than stopped: a stopped
// m-line is rejected (port 0), which the SFU's answer got wrong (a rejected MID in its BUNDLE group, which
// Chromium refuses) and which made the next share fail. An idle transceiver of the same kind carries the
// next track, so a screen share can stop and start any number of times on one connection.

const ANSWER_DEADLINE_MS = 15_000;

export class Publisher {
  /**
   * @param {{ send: (msg: object) => boolean, codec?: string }} opts
   */
  constructor({ send, codec = "vp8" }) {
    this.send = send;
    this.codec = codec;
    this.pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
    /** transceiver → { source, stream } */
    this.published = new Map();
    /** Transceivers of stopped sources, waiting for the next track of their kind. */
    this.idle = new Set();
    this.queue = Promise.resolve();
    this.pendingAnswer = null;
    this.closed = false;
  }

  /** Adds tracks (each with its source) and publishes; resolves once the SFU's answer is applied. */
  async addTracks(entries) {
    for (const { track, stream, source } of entries) {
      const idle = [...this.idle].find((t) => t.receiver.track.kind === track.kind);
      let transceiver = idle;
      if (idle) {
        this.idle.delete(idle);
        idle.direction = "sendonly";
        idle.sender.setStreams(stream);
        await idle.sender.replaceTrack(track);
      } else {
        transceiver = this.pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
        if (track.kind === "video") preferVideoCodec(transceiver, this.codec);
      }
      this.published.set(transceiver, { source, stream });
    }
    return this.negotiate();
  }

  /** Stops sending the tracks of one source (their transceivers go idle) and publishes the rest again. */
  async removeSource(source) {
    let changed = false;
    for (const [transceiver, info] of this.published) {
      if (info.source !== source) continue;
      transceiver.sender.track?.stop();
      await transceiver.sender.replaceTrack(null);
      transceiver.direction = "inactive";
      this.published.delete(transceiver);
      this.idle.add(transceiver);
      changed = true;
    }
    return changed ? this.negotiate() : undefined;
  }

  /** The published track of a source, if any. */
  trackOf(source) {
    for (const [transceiver, info] of this.published) if (info.source === source) return transceiver.sender.track;
    return null;
  }

  /** What the `publish` message says about each sent track; mids exist once the offer is set locally. */
  describeTracks() {
    const out = [];
    for (const [transceiver, info] of this.published) {
      const track = transceiver.sender.track;
      if (!track || !transceiver.mid || transceiver.direction !== "sendonly") continue;
      out.push({
        mid: transceiver.mid,
        track_id: track.id,
        stream_id: info.stream.id,
        kind: track.kind,
        source: info.source,
        muted: !track.enabled,
      });
    }
    return out;
  }

  negotiate() {
    const run = this.queue.then(() => this.negotiateNow());
    this.queue = run.catch(() => {});
    return run;
  }

  async negotiateNow() {
    if (this.closed) return;
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    await waitForIceGathering(this.pc);
    if (this.closed) return;
    const answered = this.expectAnswer();
    if (!this.send({ type: "publish", sdp: this.pc.localDescription.sdp, tracks: this.describeTracks() })) {
      this.pendingAnswer = null;
      throw new Error("not connected");
    }
    let sdp;
    try {
      sdp = await answered;
    } catch (err) {
      if (!this.closed && this.pc.signalingState === "have-local-offer") await this.pc.setLocalDescription({ type: "rollback" });
      throw err;
    }
    if (this.closed) return;
    await this.pc.setRemoteDescription({ type: "answer", sdp });
  }

  expectAnswer() {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingAnswer = null;
        reject(new Error(`the server did not answer the publish offer within ${ANSWER_DEADLINE_MS / 1000} s`));
      }, ANSWER_DEADLINE_MS);
      this.pendingAnswer = {
        resolve: (sdp) => {
          clearTimeout(timer);
          this.pendingAnswer = null;
          resolve(sdp);
        },
        reject: (err) => {
          clearTimeout(timer);
          this.pendingAnswer = null;
          reject(err);
        },
      };
    });
  }

  /** A `publish-answer` from the SFU. */
  onAnswer(sdp) {
    if (this.pendingAnswer) this.pendingAnswer.resolve(sdp);
    else console.warn("publish-answer without a pending offer: ignored");
  }

  close() {
    this.closed = true;
    this.pendingAnswer?.reject(new Error("closed"));
    for (const transceiver of this.published.keys()) transceiver.sender.track?.stop();
    this.published.clear();
    this.pc.close();
  }
}
