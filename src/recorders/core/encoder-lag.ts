import { median } from "../../quality/spans.ts";

// How far a live output's encoder is behind real time (the quality report's `live.encoder_lag_ms`). A
// live stream or an RTMP push is watched as it is made: an encoder that cannot keep up delivers its
// segments late, and viewers' players stall or drift behind. The capture's ffmpeg reports, once a
// second (`-progress pipe:3 -stats_period 1`), the media time it has written (out_time_us); the lag is
// the real time elapsed since the file's time 0 (the capture's first frame) less that media time. It
// includes what any live encoder cannot avoid (a MediaRecorder chunk or a compositor frame in flight,
// x264's lookahead), so a healthy output sits at a second or two, and one falling behind grows.
//
// The cost is one short line from ffmpeg a second and one number kept per second (a 4-hour stream:
// 14,400 numbers); only the median and the maximum are kept with the recording.

/** The summary a report carries: ms, whole. */
export interface EncoderLagSummary {
  median: number;
  max: number;
}

/** ffmpeg's global options that write the progress block to fd 3 about once a second (prepended to its arguments). */
export const PROGRESS_ARGS = ["-progress", "pipe:3", "-stats_period", "1"];

/** The media time (s) of one `-progress` line, or null for any other line (and for `N/A` before the first packet). */
export function progressSeconds(line: string): number | null {
  const m = /^out_time_us=(\d+)\s*$/.exec(line);
  return m ? Number(m[1]) / 1e6 : null;
}

export class EncoderLag {
  private readonly lags: number[] = [];

  /** `zero`: the wall time (ms) of the file's time 0, or 0 while it is not known yet (samples before it are dropped). */
  constructor(private readonly zero: () => number) {}

  /** One progress report: the media time written by `now` (ms since the epoch). */
  sample(mediaSeconds: number, now = Date.now()): void {
    const zero = this.zero();
    // Before the first packet is written the media time is 0 and says nothing of the encoder's pace.
    if (!zero || mediaSeconds <= 0) return;
    // Never negative: a MediaRecorder chunk carries half a second of media at once, and the file's time 0
    // is taken a moment after its real start.
    this.lags.push(Math.max(0, Math.round(now - zero - mediaSeconds * 1000)));
  }

  /** Feeds each complete line of `-progress` output. */
  line(line: string, now = Date.now()): void {
    const s = progressSeconds(line);
    if (s !== null) this.sample(s, now);
  }

  get samples(): number {
    return this.lags.length;
  }

  /** Median and maximum lag (ms), or null when nothing was sampled (the output never started). */
  summary(): EncoderLagSummary | null {
    if (!this.lags.length) return null;
    return { median: Math.round(median(this.lags)), max: this.lags.reduce((a, b) => Math.max(a, b), 0) };
  }
}
