import type { MediaStreamTrack, RTCRtpReceiver, RtpPacket } from "werift";
import type { PeerTrackInfo } from "./protocol.ts";
import { BitrateEstimator, rembPacket } from "./remb.ts";

// One track a peer publishes: the werift track it arrives on, who listens to it, keyframe requests
// (throttled), REMB feedback for video, and when its last packet came (for the inactivity check).

const PLI_MIN_INTERVAL_MS = 500;

/** The part of werift's `inbound-rtp` statistics receiveCounts reads. */
interface InboundCounts {
  type: string;
  ssrc?: number;
  packetsReceived?: number;
  packetsLost?: number;
  pliCount?: number;
}

export class PublishedTrack {
  lastRtpAt = Date.now();
  packets = 0;
  /** Video frames received (RTP packets with the marker bit: a frame's last packet), for the fps of peer-stats. */
  frames = 0;
  private lastPliAt = 0;
  private readonly estimator = new BitrateEstimator();
  private windowStart = Date.now();
  private readonly listeners = new Set<(rtp: RtpPacket) => void>();

  constructor(
    readonly info: PeerTrackInfo,
    readonly track: MediaStreamTrack,
    /** Its werift receiver: RTCP, and the receive statistics peer-stats samples (analytics/quality-sampler.ts). */
    readonly receiver: RTCRtpReceiver,
  ) {
    track.onReceiveRtp.subscribe((rtp) => {
      this.lastRtpAt = Date.now();
      this.packets++;
      if (rtp.header.marker) this.frames++;
      if (info.kind === "video") this.estimator.onPacket(rtp);
      for (const l of this.listeners) l(rtp);
    });
  }

  get codec() {
    return this.track.codec;
  }

  /** Forward every RTP packet to `fn`; returns the unsubscribe function. */
  listen(fn: (rtp: RtpPacket) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Asks the publisher for a keyframe (at most one per 500 ms unless `force`). */
  requestKeyframe(force = false): void {
    if (this.info.kind !== "video" || this.track.ssrc === undefined) return;
    const now = Date.now();
    if (!force && now - this.lastPliAt < PLI_MIN_INTERVAL_MS) return;
    this.lastPliAt = now;
    void this.receiver.sendRtcpPLI(this.track.ssrc);
  }

  /**
   * Its counters in werift's receive statistics so far (as analytics/quality-sampler.ts reads them):
   * packets received and lost (RFC 3550: expected less received), keyframe requests (PLI) sent.
   */
  receiveCounts(): { packets: number; lost: number; keyframeRequests: number } {
    const inbound = (this.receiver.collectStats(Date.now()) as unknown as InboundCounts[]).find(
      (s) => s.type === "inbound-rtp" && s.ssrc === this.track.ssrc,
    );
    return { packets: inbound?.packetsReceived ?? 0, lost: inbound?.packetsLost ?? 0, keyframeRequests: inbound?.pliCount ?? 0 };
  }

  /** Called about once a second: sends the REMB estimate for a video track. */
  sendFeedback(): void {
    if (this.info.kind !== "video" || this.track.ssrc === undefined) return;
    const now = Date.now();
    const bitrate = this.estimator.tick(now - this.windowStart);
    this.windowStart = now;
    void this.receiver.dtlsTransport.sendRtcp([rembPacket(this.receiver.rtcpSsrc, this.track.ssrc, bitrate)]).catch(() => {});
  }

  close(): void {
    this.listeners.clear();
  }
}
