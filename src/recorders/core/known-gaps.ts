import type { GapSpan, QualityReport } from "../../quality/report.ts";
import { round3 } from "../../quality/spans.ts";

// What a captured recording's finish job adds to its files' quality reports from the details the capture
// left (capture-worker.ts): the gaps it knows of, placed on the delivered file's timeline, and a live
// output's encoder lag.

/** The gaps within a file of `duration` seconds (the capture's clock and the file's end differ by a frame or two). */
export function gapsWithin(gaps: readonly GapSpan[] | undefined, duration: number): GapSpan[] {
  return (gaps ?? []).flatMap((g) => {
    const end = duration > 0 ? Math.min(g.end, duration) : g.end;
    return end > g.start ? [{ start: round3(g.start), end: round3(end), reason: g.reason }] : [];
  });
}

/**
 * Gaps on a live stream's capture clock (seconds from `epoch`, ms) moved to its recording's, which leaves
 * the paused spans out: each moment is earlier by the paused time before it; what lies in a pause is gone.
 */
export function gapsWithoutPauses(
  gaps: readonly GapSpan[] | undefined,
  paused: ReadonlyArray<{ from: number; to: number | null }>,
  epoch: number,
): GapSpan[] {
  const at = (seconds: number) => {
    const t = epoch + seconds * 1000;
    const before = paused.reduce((sum, p) => sum + Math.max(0, Math.min(p.to ?? t, t) - Math.max(p.from, epoch)), 0);
    return Math.max(0, t - epoch - before) / 1000;
  };
  return (gaps ?? []).flatMap((g) => {
    const start = at(g.start);
    const end = at(g.end);
    return end > start ? [{ start: round3(start), end: round3(end), reason: g.reason }] : [];
  });
}

/** The report's `live` of a live output, from what its capture sampled (absent for other kinds). */
export function liveQuality(d: { encoder_lag_ms?: { median: number; max: number } }): QualityReport["live"] | undefined {
  return d.encoder_lag_ms ? { encoder_lag_ms: d.encoder_lag_ms } : undefined;
}
