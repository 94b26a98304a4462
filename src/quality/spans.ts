import type { Span } from "./report.ts";

// Small pure helpers over spans and times, shared by the analysis and the grading.

/** Seconds to 3 decimals (the report's precision: a millisecond). */
export const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** The spans sorted and overlapping or touching ones joined. */
export function mergeSpans<T extends Span>(spans: readonly T[]): Span[] {
  const sorted = [...spans].filter((s) => s.end > s.start).sort((a, b) => a.start - b.start);
  const out: Span[] = [];
  for (const s of sorted) {
    const last = out.at(-1);
    if (last && s.start <= last.end) last.end = Math.max(last.end, s.end);
    else out.push({ start: s.start, end: s.end });
  }
  return out;
}

/** Seconds covered by at least one of the spans (overlaps counted once). */
export function coveredSeconds(spans: readonly Span[]): number {
  return mergeSpans(spans).reduce((sum, s) => sum + (s.end - s.start), 0);
}

/** The longest span (the first of equals); undefined for none. */
export function longestSpan<T extends Span>(spans: readonly T[]): T | undefined {
  return spans.reduce<T | undefined>((best, s) => (!best || s.end - s.start > best.end - best.start ? s : best), undefined);
}

/** A position in the file as people read it: 0:04, 12:30, 1:02:03. */
export function clock(seconds: number): string {
  const t = Math.max(0, Math.floor(seconds));
  const [h, m, s] = [Math.floor(t / 3600), Math.floor((t % 3600) / 60), t % 60];
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** The median step between consecutive rising times (`fallback` when there are too few). */
export function medianStep(t: readonly number[], fallback: number): number {
  const steps: number[] = [];
  for (let i = 1; i < t.length; i++) if (t[i] > t[i - 1]) steps.push(t[i] - t[i - 1]);
  return median(steps) || fallback;
}

/** The median of the values (the mean of the middle two for an even count); NaN for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}
