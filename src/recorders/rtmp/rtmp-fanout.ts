import type { Logger } from "../../log.ts";
import type { OutboundPolicy } from "../../net/outbound-policy.ts";
import { FlvReader, type FlvTag } from "./flv-tags.ts";
import { RtmpPush } from "./rtmp-push.ts";

// The fan-out of an external stream: the capture's encoder writes FLV on stdout (one encode, whatever
// the number of destinations); this cuts it into tags, keeps the stream's headers (metadata, H.264 and
// AAC sequence headers) and the tags since the last keyframe (a keyframe every 2 s: at most that much in
// memory) for destinations that (re)start later, and hands every tag to each RTMP
// destination (rtmp-push.ts), each its own process, so one that refuses, drops or lags never holds the
// others: nothing here waits for a destination. Pushes start with the first bytes (a capture that
// never started leaves no process behind) and end with the encoder's output.

export interface RtmpFailure {
  url: string;
  index: number;
  message: string;
  at: string;
}

export class RtmpFanout {
  readonly pushes: RtmpPush[];
  /** Bytes of FLV the encoder wrote. */
  bytesIn = 0;
  private readonly reader = new FlvReader();
  private readonly headerTags: FlvTag[] = [];
  /** The tags since the last video keyframe (starting with it): where a destination that (re)starts begins. */
  private gop: FlvTag[] = [];
  private started = false;
  private broken = false;
  private readonly failures: RtmpFailure[] = [];
  private onFailure: ((f: RtmpFailure) => void) | null = null;
  private endedWith!: () => void;
  /** Settles once the encoder's output has ended and every destination is done. */
  readonly ended: Promise<void>;

  constructor(
    urls: string[],
    private readonly o: { policy: OutboundPolicy; log: Logger; backoffMs?: number[] },
  ) {
    this.pushes = urls.map(
      (url, index) =>
        new RtmpPush({
          url,
          index,
          policy: o.policy,
          log: o.log,
          backoffMs: o.backoffMs,
          headers: () => ({ preamble: this.reader.preamble, tags: this.headerTags, gop: this.gop }),
          onGaveUp: (message) => this.failed({ url, index, message, at: new Date().toISOString() }),
        }),
    );
    this.ended = new Promise((r) => (this.endedWith = r));
  }

  /** Every destination has given up. */
  get allFailed(): boolean {
    return this.pushes.every((p) => p.state === "failed");
  }

  /** Receives the failures so far, then each new one as it happens. */
  watchFailures(fn: (f: RtmpFailure) => void): void {
    this.onFailure = fn;
    for (const f of this.failures.splice(0)) fn(f);
  }

  /** The encoder's stdout. */
  write(chunk: Buffer): void {
    if (this.broken) return;
    this.bytesIn += chunk.length;
    if (!this.started) {
      this.started = true;
      for (const p of this.pushes) p.start();
    }
    let tags: FlvTag[];
    try {
      tags = this.reader.push(chunk);
    } catch (err) {
      this.broken = true;
      this.o.log.error(
        { err: (err as Error).message },
        "the external stream's encoder output cannot be read; its destinations get nothing more",
      );
      return;
    }
    for (const tag of tags) {
      if (tag.kind === "script" || tag.kind === "video-config" || tag.kind === "audio-config") {
        this.headerTags.push(tag);
        continue;
      }
      if (tag.kind === "keyframe") this.gop = [tag];
      else if (this.gop.length) this.gop.push(tag);
      for (const p of this.pushes) p.write(tag);
    }
  }

  /** The encoder's stdout ended: every destination finishes. */
  end(): void {
    void Promise.all(this.pushes.map((p) => p.end())).then(() => this.endedWith());
  }

  private failed(f: RtmpFailure): void {
    if (this.onFailure) this.onFailure(f);
    else this.failures.push(f);
  }
}
