import { median } from "./spans.ts";

// The A/V offset measured from the file itself: sharp picture changes (the mean brightness of the
// picture jumping, as a flash does) paired with sound onsets (the level rising sharply, as a beep or a
// clap does). For a flash-and-beep source every flash pairs with its beep and the lags agree; in an
// ordinary meeting there are few sharp picture changes, and the pairs that chance makes (a slide change
// near a word) do not agree with each other, so the offset is left unmeasured rather than guessed.
// Pure: the analysis hands in each frame's mean luma and each 10 ms window's level.

export const AV_OFFSET_SETTINGS = Object.freeze({
  /** A picture change and a sound onset further apart than this (s) are not the same event. */
  searchSeconds: 0.5,
  /**
   * An event counts only after this long (s) without another one: a flash's end, a tenth of a second
   * after its start, is not taken for a second event, and a word's syllables are one onset.
   */
  steadySeconds: 0.25,
  /** A change of the mean luma (0-255) between two frames at least this big is a sharp picture change. */
  lumaJump: 16,
  /** A window at least this much louder (dB) than the whole steady time before it is a sound onset… */
  onsetRiseDb: 12,
  /** …and at least this loud (dBFS): a rise within the noise floor is not an event. */
  onsetFloorDb: -45,
  /** Fewer pairs than this measure nothing (one coincidence must not make an offset). */
  minPairs: 3,
  /** At least half the pairs must lie within this (ms) of their median, or they do not line up. */
  agreeMs: 50,
  /** The per-second timeline's value is measured over this many seconds around each second. */
  timelineWindowSeconds: 10,
});

const S = AV_OFFSET_SETTINGS;

export const AV_OFFSET_METHOD =
  "each sharp picture change (the mean luma jumping by " +
  `${S.lumaJump}/255 after ${S.steadySeconds * 1000} ms without a jump) paired with the nearest sound onset ` +
  `(a 10 ms window ${S.onsetRiseDb} dB louder than the ${S.steadySeconds * 1000} ms before it) within ${S.searchSeconds * 1000} ms; ` +
  "the median of their lags";

/** When each sharp picture change happened (s), from each frame's time and mean luma, in time order. */
export function pictureChanges(t: readonly number[], luma: readonly number[]): number[] {
  const out: number[] = [];
  let lastJump = Number.NEGATIVE_INFINITY;
  for (let i = 1; i < t.length; i++) {
    if (Math.abs(luma[i] - luma[i - 1]) < S.lumaJump) continue;
    // The picture must have been there, and steady, for the whole time before.
    if (t[i] - lastJump >= S.steadySeconds && t[i] - t[0] >= S.steadySeconds) out.push(t[i]);
    lastJump = t[i];
  }
  return out;
}

/**
 * When each sound onset happened (s), from consecutive windows' start times and RMS levels (dBFS,
 * -Infinity for digital silence), each `windowSeconds` long. Within its window an onset is placed by
 * how much of the next window's energy the window already has (a beep starting half-way through its
 * window gives it half the energy).
 */
export function soundOnsets(t: readonly number[], rmsDb: readonly number[], windowSeconds: number): number[] {
  const out: number[] = [];
  const steady = Math.round(S.steadySeconds / windowSeconds);
  for (let k = steady; k < t.length; k++) {
    const level = rmsDb[k];
    if (!(level >= S.onsetFloorDb)) continue;
    if (t[k] - t[k - steady] > S.steadySeconds + windowSeconds / 2) continue; // a hole in the sound: nothing steady to rise from
    let before = Number.NEGATIVE_INFINITY;
    for (let j = k - steady; j < k; j++) before = Math.max(before, rmsDb[j]);
    if (level - before < S.onsetRiseDb) continue;
    const next = rmsDb[k + 1];
    const filled = next !== undefined && next > level ? 10 ** ((level - next) / 10) : 1;
    out.push(t[k] + (1 - filled) * windowSeconds);
  }
  return out;
}

export interface AvPair {
  /** When the picture changed (s). */
  at: number;
  /** The sound onset's time minus the picture change's (ms): positive when the sound is late. */
  lagMs: number;
}

/** Each picture change with the nearest sound onset within the search distance (both lists in time order). */
export function pairEvents(changes: readonly number[], onsets: readonly number[]): AvPair[] {
  const pairs: AvPair[] = [];
  let from = 0;
  for (const v of changes) {
    while (from < onsets.length && onsets[from] < v - S.searchSeconds) from++;
    let best: number | undefined;
    for (let k = from; k < onsets.length && onsets[k] <= v + S.searchSeconds; k++)
      if (best === undefined || Math.abs(onsets[k] - v) < Math.abs(best - v)) best = onsets[k];
    if (best !== undefined) pairs.push({ at: v, lagMs: (best - v) * 1000 });
  }
  return pairs;
}

/** The offset the pairs agree on (ms, rounded), or null with why. */
export function steadyOffset(pairs: readonly AvPair[]): { ms: number | null; note?: string } {
  if (pairs.length < S.minPairs)
    return {
      ms: null,
      note: `only ${pairs.length} sharp picture change${pairs.length === 1 ? "" : "s"} came with a sound onset within ${S.searchSeconds * 1000} ms (${S.minPairs} are needed)`,
    };
  const lags = pairs.map((p) => p.lagMs);
  const mid = median(lags);
  const agreeing = lags.filter((l) => Math.abs(l - mid) <= S.agreeMs).length;
  if (agreeing * 2 < lags.length)
    return { ms: null, note: `the ${lags.length} picture changes paired with sound onsets do not line up (their lags disagree)` };
  return { ms: Math.round(mid) };
}

/** Per second (index i: [i, i+1) s), the steady offset of the pairs within the timeline window around it; null where there is none. */
export function offsetTimeline(pairs: readonly AvPair[], seconds: number): (number | null)[] {
  const out: (number | null)[] = [];
  const half = S.timelineWindowSeconds / 2;
  let from = 0;
  let to = 0;
  for (let i = 0; i < seconds; i++) {
    const [lo, hi] = [i + 0.5 - half, i + 0.5 + half];
    while (from < pairs.length && pairs[from].at < lo) from++;
    to = Math.max(to, from);
    while (to < pairs.length && pairs[to].at < hi) to++;
    out.push(steadyOffset(pairs.slice(from, to)).ms);
  }
  return out;
}
