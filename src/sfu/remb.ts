import { ReceiverEstimatedMaxBitrate, RtcpPayloadSpecificFeedback, type RtpPacket } from "werift";

// A receiver-side bitrate estimate, fed back to the publisher as REMB once a second: grow while the
// stream arrives cleanly (so a 720p camera ramps past 1.2 Mbps in seconds), back off on loss.

export interface RembOptions {
  minBps: number;
  maxBps: number;
}

export const DEFAULT_REMB: RembOptions = { minBps: 300_000, maxBps: 4_000_000 };

export class BitrateEstimator {
  private bytes = 0;
  private firstSeq: number | null = null;
  private lastSeq = 0;
  private received = 0;
  private estimate: number;

  constructor(private readonly opts: RembOptions = DEFAULT_REMB) {
    this.estimate = opts.minBps * 2;
  }

  onPacket(rtp: RtpPacket): void {
    this.bytes += rtp.serializeSize ?? rtp.payload.length + 12;
    const seq = rtp.header.sequenceNumber;
    if (this.firstSeq === null) this.firstSeq = seq;
    this.lastSeq = seq;
    this.received++;
  }

  /** Closes a window of `elapsedMs` and returns the bitrate to advertise. */
  tick(elapsedMs: number): number {
    const measured = (this.bytes * 8 * 1000) / Math.max(1, elapsedMs);
    const expected = this.firstSeq === null ? 0 : ((this.lastSeq - this.firstSeq + 0x10000) % 0x10000) + 1;
    const loss = expected > 0 ? Math.max(0, 1 - this.received / expected) : 0;
    if (loss > 0.1) this.estimate = measured * 0.85;
    else if (loss < 0.02) this.estimate = Math.max(this.estimate, measured * 1.5 + 150_000);
    this.estimate = Math.min(this.opts.maxBps, Math.max(this.opts.minBps, this.estimate));
    this.bytes = 0;
    this.firstSeq = null;
    this.received = 0;
    return Math.round(this.estimate);
  }
}

/** A REMB packet (RFC draft-alvestrand-rmcat-remb) for one media SSRC. */
export function rembPacket(senderSsrc: number, mediaSsrc: number, bitrate: number): RtcpPayloadSpecificFeedback {
  let exp = 0;
  let mantissa = Math.max(0, Math.floor(bitrate));
  while (mantissa >= 1 << 18) {
    mantissa = Math.floor(mantissa / 2);
    exp++;
  }
  return new RtcpPayloadSpecificFeedback({
    feedback: new ReceiverEstimatedMaxBitrate({
      senderSsrc,
      mediaSsrc: 0,
      uniqueID: "REMB",
      ssrcNum: 1,
      brExp: exp,
      brMantissa: mantissa,
      bitrate: BigInt(mantissa) << BigInt(exp),
      ssrcFeedbacks: [mediaSsrc],
    }),
  });
}
