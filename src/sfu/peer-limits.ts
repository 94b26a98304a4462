import type { Config } from "../config/config.ts";
import { SignalError } from "./signal-error.ts";

// Per-connection signalling limits, so one peer cannot flood a room's chat (each message is stored and
// fanned out), make the SFU renegotiate without pause, or keep it busy with any other message. A message
// over a limit is refused with an error frame; `floodStrikes` refusals within STRIKE_WINDOW_MS and the
// connection is a flood: the SFU removes the peer (sfu.ts).

/** Every message, of any type: generous for a real page, which sends a few a second at most. */
export const MESSAGE_PER_SECOND = 50;
export const MESSAGE_BURST = 100;
/** Publish messages (each renegotiates and tells the room): a screen share toggled now and then. */
export const PUBLISH_PER_SECOND = 1;
export const PUBLISH_BURST = 10;
export const STRIKE_WINDOW_MS = 10_000;

export class TokenBucket {
  private tokens: number;
  private at = Date.now();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  /** Takes one token if there is one. */
  take(now = Date.now()): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}

export class PeerLimits {
  private readonly messages = new TokenBucket(MESSAGE_PER_SECOND, MESSAGE_BURST);
  private readonly publishes = new TokenBucket(PUBLISH_PER_SECOND, PUBLISH_BURST);
  private readonly chats: TokenBucket;
  private strikes: number[] = [];

  constructor(private readonly limits: Config["peerLimits"]) {
    this.chats = new TokenBucket(limits.chatPerSecond, limits.chatBurst);
  }

  /** Throws the error frame's SignalError if a message of any type is one too many. */
  checkMessage(): void {
    if (!this.messages.take()) {
      throw new SignalError(
        "rate_limited",
        "rate_limited",
        `too many messages: at most ${MESSAGE_PER_SECOND} a second (bursts of ${MESSAGE_BURST}); this one was dropped`,
      );
    }
  }

  checkPublish(): void {
    if (!this.publishes.take()) {
      throw new SignalError(
        "rate_limited",
        "rate_limited",
        `too many publish messages: at most ${PUBLISH_PER_SECOND} a second (bursts of ${PUBLISH_BURST}); this one was dropped`,
      );
    }
  }

  /** Size in UTF-8 bytes first (an oversized message takes no token), then the rate. */
  checkChat(message: string): void {
    const bytes = Buffer.byteLength(message, "utf8");
    const max = this.limits.chatMaxBytes;
    if (bytes > max) {
      throw new SignalError(
        "payload_too_large",
        "payload_too_large",
        `chat message too long: ${bytes} bytes (UTF-8), at most ${max}; it was not sent`,
      );
    }
    if (!this.chats.take()) {
      const { chatPerSecond, chatBurst } = this.limits;
      throw new SignalError(
        "rate_limited",
        "rate_limited",
        `too many chat messages: at most ${chatPerSecond} a second (bursts of ${chatBurst}); this one was not sent`,
      );
    }
  }

  /** Counts a refused message; true when the refusals within the window make a flood. */
  strike(now = Date.now()): boolean {
    this.strikes = this.strikes.filter((t) => now - t < STRIKE_WINDOW_MS);
    this.strikes.push(now);
    return this.strikes.length >= this.limits.floodStrikes;
  }
}

/** Is `err` one of the limits above (a strike towards flooding)? */
export const isLimitError = (err: unknown): boolean =>
  err instanceof SignalError && (err.reason === "rate_limited" || err.reason === "payload_too_large");
