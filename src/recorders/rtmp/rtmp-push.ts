import type { Logger } from "../../log.ts";
import { OutboundRefusedError, type OutboundPolicy } from "../../net/outbound-policy.ts";
import { superviseProcess, type ProcessEnd, type SupervisedProcess } from "../../process/supervisor.ts";
import type { FlvTag } from "./flv-tags.ts";
import { retimed } from "./flv-tags.ts";
import { redactRtmpUrl } from "./rtmp-url.ts";

// One RTMP destination of an external stream: a small ffmpeg (`-c copy`, FLV in on stdin, FLV out to
// the URL) under the process supervisor, fed the encoder's tags by the fan-out (rtmp-fanout.ts). It
// starts at a video keyframe, after the stream's headers, with its timestamps moved to start at 0, so
// it can (re)start at any point of the stream. When its ffmpeg ends before the stream does (the server
// refused or dropped the connection, or it fell MAX_QUEUE_BYTES behind: a slow ingest is dropped, never
// waited for), it starts again after a backoff; after MAX_ATTEMPTS failed attempts in a row it gives up
// and says why. An attempt that streamed for HEALTHY_MS counts as a success: the next failure starts
// the count again (an ingest hiccup an hour in gets its full set of retries).
//
// The stream key is a secret: log lines and messages carry the redacted URL, and ffmpeg's own lines
// (which quote the URL) are scrubbed before they reach the log or a message. The outbound policy is
// checked before every attempt (ffmpeg then resolves the name again itself: a DNS answer that changes
// within that moment is not caught, unlike webhooks, whose sockets use the checked address).

export const MAX_ATTEMPTS = 4;
/** Waits before attempts 2, 3, 4 … (the last repeats). */
export const BACKOFF_MS = [1000, 2000, 4000];
export const HEALTHY_MS = 30_000;
/** Bytes queued for one ffmpeg above which it is dropped (at 2.5 Mbit/s, about 25 s). */
export const MAX_QUEUE_BYTES = 8 * 1024 * 1024;
/** No network progress for this long fails an attempt (ffmpeg's rw_timeout). */
const IO_TIMEOUT_US = 10_000_000;
/** After the end of its input, how long ffmpeg may take to send what is queued. */
const DRAIN_MS = 10_000;

export type PushState = "waiting" | "streaming" | "retrying" | "failed" | "ended";

export interface RtmpPushOptions {
  url: string;
  index: number;
  policy: OutboundPolicy;
  log: Logger;
  /**
   * What a new attempt is sent first: the preamble, the header tags (metadata, sequence headers) and the
   * tags since the last keyframe (`gop`, starting with that keyframe; empty before the first one).
   */
  headers(): { preamble: Buffer | null; tags: FlvTag[]; gop: FlvTag[] };
  /** It gave up (after MAX_ATTEMPTS, or at once when the outbound policy refuses its host). */
  onGaveUp(message: string): void;
  /** Tests: shorter waits. */
  backoffMs?: number[];
}

export class RtmpPush {
  state: PushState = "waiting";
  attempts = 0;
  /** Why the last attempt ended (scrubbed), or why it gave up. */
  lastError = "";
  bytesSent = 0;
  readonly shown: string;
  private proc: SupervisedProcess | null = null;
  private synced = false;
  private base = 0;
  private attemptStartedAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private ending = false;
  /** Why this attempt was dropped by us (too slow), if it was. */
  private dropped: string | null = null;
  private readonly log: Logger;
  /** Settles once this destination is done: ended with the stream, or given up. */
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(private readonly o: RtmpPushOptions) {
    this.shown = redactRtmpUrl(o.url);
    this.log = o.log.child({ rtmp_url: this.shown, url_index: o.index });
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  /** Starts the first attempt. */
  start(): void {
    void this.attempt();
  }

  /** Hands it a tag of the stream (dropped while it is between attempts). */
  write(tag: FlvTag): void {
    const stdin = this.proc?.child.stdin;
    if (this.state !== "streaming" || !stdin?.writable) return;
    if (!this.synced) {
      // The fan-out has put this tag in its gop already (when there is one): a start from the gop sends it.
      this.sync(stdin);
      return;
    }
    this.send(stdin, retimed(tag, tag.timestamp - this.base));
    if (stdin.writableLength > MAX_QUEUE_BYTES && !this.dropped) {
      this.log.warn({ queued_bytes: stdin.writableLength }, "RTMP destination is too slow for the stream; dropping this connection");
      this.dropped = `fell behind the stream by over ${MAX_QUEUE_BYTES / (1024 * 1024)} MB (a slow or stalled ingest)`;
      void this.proc?.kill();
    }
  }

  /** The stream is over: the running ffmpeg sends what it has and exits; a waiting retry is cancelled. */
  async end(): Promise<void> {
    this.ending = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.proc?.running) await this.proc.stop();
    else if (this.state !== "failed") this.finish("ended");
    await this.done;
  }

  /** Starts this attempt's output at the last keyframe (headers first, times from 0); false before the first keyframe. */
  private sync(stdin: NodeJS.WritableStream): boolean {
    const { preamble, tags, gop } = this.o.headers();
    if (!preamble || !gop.length) return false;
    this.synced = true;
    this.base = gop[0].timestamp;
    this.send(stdin, preamble);
    for (const h of tags) this.send(stdin, retimed(h, 0));
    for (const t of gop) this.send(stdin, retimed(t, t.timestamp - this.base));
    return true;
  }

  private send(stdin: NodeJS.WritableStream, b: Buffer): void {
    this.bytesSent += b.length;
    stdin.write(b);
  }

  private scrub(text: string): string {
    const key = this.o.url.split("/").pop() ?? "";
    let out = text.split(this.o.url).join(this.shown);
    if (key.length >= 4) out = out.split(key).join("***");
    return out;
  }

  private async attempt(): Promise<void> {
    if (this.ending) return this.finish("ended");
    this.attempts++;
    try {
      await this.o.policy.resolveChecked(new URL(this.o.url).hostname);
    } catch (err) {
      if (err instanceof OutboundRefusedError) return this.giveUp(`refused by the outbound policy: ${err.message}`);
      // Not resolvable now: ffmpeg fails on it and the attempt counts.
    }
    if (this.ending) return this.finish("ended");
    this.synced = false;
    this.dropped = null;
    this.attemptStartedAt = Date.now();
    this.log.info({ attempt: this.attempts }, "RTMP destination: connecting");
    const scrubbed = {
      debug: (obj: object, msg?: string) => this.log.debug(this.scrubObj(obj), msg),
      info: (obj: object, msg?: string) => this.log.info(this.scrubObj(obj), msg),
      warn: (obj: object, msg?: string) => this.log.warn(this.scrubObj(obj), msg),
    };
    const proc = superviseProcess({
      name: "rtmp push ffmpeg",
      command: "ffmpeg",
      args: [
        // The headers come first: no need to read seconds of input before connecting.
        ...["-hide_banner", "-loglevel", "error", "-nostats", "-probesize", "32768", "-analyzeduration", "0"],
        ...["-f", "flv", "-i", "pipe:0", "-map", "0", "-c", "copy"],
        ...["-rw_timeout", String(IO_TIMEOUT_US), "-f", "flv", "-flvflags", "no_duration_filesize", this.o.url],
      ],
      stdin: "pipe",
      log: scrubbed,
      gracefulStop: "stdin-end",
      stopGraceMs: DRAIN_MS,
      killGraceMs: 3000,
      group: "shared",
    });
    this.proc = proc;
    this.state = "streaming";
    // It starts at once from the last keyframe (when there is one yet), not at the next.
    if (proc.child.stdin) this.sync(proc.child.stdin);
    const end = await proc.ended;
    this.proc = null;
    this.onEnded(end);
  }

  private scrubObj(obj: object): object {
    const o = obj as Record<string, unknown>;
    return typeof o.line === "string" ? { ...o, line: this.scrub(o.line) } : obj;
  }

  private onEnded(end: ProcessEnd): void {
    if (this.ending && (end.reason === "stopped" || end.reason === "exited" || end.reason === "killed")) return this.finish("ended");
    const ranMs = Date.now() - this.attemptStartedAt;
    const why =
      end.reason === "spawn_failed" ? `ffmpeg did not start (${end.error?.code ?? "error"})` : this.scrub(end.stderrTail.at(-1) ?? "");
    this.lastError = this.dropped ?? (why || `ffmpeg ended (${end.signal ?? `code ${end.code}`})`);
    if (ranMs >= HEALTHY_MS) this.attempts = 1; // it had been streaming: this failure starts a new count
    if (this.ending) return this.finish("ended");
    if (this.attempts >= MAX_ATTEMPTS) return this.giveUp(`${this.lastError} (after ${this.attempts} attempts)`);
    const backoff = this.o.backoffMs ?? BACKOFF_MS;
    const wait = backoff[Math.min(this.attempts - 1, backoff.length - 1)];
    this.log.warn(
      { attempt: this.attempts, error: this.lastError, retry_in_ms: wait, streamed_ms: ranMs },
      "RTMP destination failed; retrying",
    );
    this.state = "retrying";
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.attempt();
    }, wait);
  }

  private giveUp(message: string): void {
    this.lastError = message;
    this.log.error({ attempts: this.attempts, error: message }, "RTMP destination given up; the other destinations go on");
    this.finish("failed");
    this.o.onGaveUp(message);
  }

  private finish(state: "ended" | "failed"): void {
    if (this.state === "ended" || this.state === "failed") return;
    this.state = state;
    this.resolveDone();
  }
}
