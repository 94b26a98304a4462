import type { GapSpan, QualityReport } from "../../quality/report.ts";
import { round3 } from "../../quality/spans.ts";

// What a captured recording's finish job adds to its files' quality reports from the details the capture
// left (capture-worker.ts): the gaps it knows of, placed on the delivered file's timeline, each pause
// where it cut the file, and a live output's encoder lag.
//
// A pause is listed as a gap of no length (start = end): the paused time is not in the file, which goes
// on from the resume, so nothing is missing at that point of the file and the grade does not count it
// (quality/grade.ts); the report still says where the file was cut, for how long and why.

/** A span (wall ms) in which a recording was paused; `to` null: still paused when the capture ended. */
export interface PausedSpan {
  from: number;
  to: number | null;
}

/**
 * Notes a pause (opens a span at `now`) or a resume (closes the open one) in `spans`, kept in the
 * recording's details so a finish job (on this node or another, after a restart) knows them; false when
 * nothing changed (a pause while paused, a resume while not).
 */
export function notePause(spans: PausedSpan[], paused: boolean, now = Date.now()): boolean {
  const last = spans.at(-1);
  if (paused && (!last || last.to !== null)) spans.push({ from: now, to: null });
  else if (!paused && last && last.to === null) last.to = now;
  else return false;
  return true;
}

/**
 * A pause as the report lists it: a gap of no length at `at` (seconds in the file), its reason saying
 * how long it lasted in real time. A pause that lasted until the stop is listed too (at the file's end):
 * it says why the file is shorter than the recording was long.
 */
export function pauseGap(at: number, pause: PausedSpan, o: { untilStop: boolean; stoppedAt: number | null }): GapSpan {
  const end = pause.to ?? o.stoppedAt ?? pause.from;
  const seconds = `${(Math.max(0, end - pause.from) / 1000).toFixed(1)} s`;
  const reason = o.untilStop
    ? `paused for ${seconds} (by the API) until the recording stopped: the file ends there`
    : `paused for ${seconds} (by the API): that time is not in the file, which goes on from the resume`;
  return { start: round3(at), end: round3(at), reason };
}

/**
 * The pauses of a file that leaves its paused spans out and whose time 0 is `epoch` (ms; a browser
 * recording: the capture's start), each at its place in the file: its wall time less `epoch` and the
 * paused time before it. `stoppedAt`: when the recording stopped (a pause still open then lasted until it).
 */
export function pausesInFile(paused: readonly PausedSpan[] | undefined, epoch: number, stoppedAt: number | null): GapSpan[] {
  let before = 0;
  return (paused ?? []).map((p) => {
    const at = Math.max(0, p.from - epoch - before) / 1000;
    before += Math.max(0, (p.to ?? stoppedAt ?? p.from) - Math.max(p.from, epoch));
    const untilStop = p.to === null || (stoppedAt !== null && p.to >= stoppedAt);
    return pauseGap(at, p, { untilStop, stoppedAt });
  });
}

/**
 * The gaps within a file of `duration` seconds (the capture's clock and the file's end differ by a frame
 * or two): a gap is cut at the file's end; a gap of no length (a pause) is kept, at the end at the latest.
 */
export function gapsWithin(gaps: readonly GapSpan[] | undefined, duration: number): GapSpan[] {
  return (gaps ?? []).flatMap((g) => {
    const end = duration > 0 ? Math.min(g.end, duration) : g.end;
    if (g.end === g.start) {
      const at = round3(Math.min(g.start, end));
      return [{ start: at, end: at, reason: g.reason }];
    }
    return end > g.start ? [{ start: round3(g.start), end: round3(end), reason: g.reason }] : [];
  });
}

/**
 * Where wall time `wallMs` is in a file whose time 0 is `epoch` (ms) and which leaves the paused spans
 * out (s): the time since `epoch` less the paused time before `wallMs` (0 before the file began).
 */
export function fileSecondsAt(wallMs: number, epoch: number, paused: readonly PausedSpan[]): number {
  const before = paused.reduce((sum, p) => sum + Math.max(0, Math.min(p.to ?? wallMs, wallMs) - Math.max(p.from, epoch)), 0);
  return Math.max(0, wallMs - epoch - before) / 1000;
}

/**
 * Gaps on a live stream's capture clock (seconds from `epoch`, ms) moved to its recording's, which leaves
 * the paused spans out: each moment is earlier by the paused time before it; what lies in a pause is gone.
 */
export function gapsWithoutPauses(gaps: readonly GapSpan[] | undefined, paused: readonly PausedSpan[], epoch: number): GapSpan[] {
  const at = (seconds: number) => fileSecondsAt(epoch + seconds * 1000, epoch, paused);
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
