import type { Span } from "./report.ts";
import { medianStep } from "./spans.ts";

// The picture of a file made in pieces, measured piece by piece. A per-peer video is transcoded in
// pieces while its session runs (recorders/sfu/per-peer-pieces.ts); decoding the whole file again at
// the close only to measure it was most of the time its quality report took. So each piece's picture
// is measured once it is made (analyze.ts measurePicture), and at the close the pieces' measures are
// joined here: only the sound is then left to measure. Pure.
//
// A still stretch that crosses a boundary is seen as two, one in each piece: they are joined when they
// touch and the picture on either side of the join is the same (as still stretches the encoder cut are
// within one file: analysis-args.ts FREEZE_SECONDS). The report keeps only spans of a second or more,
// after the join.

export interface PictureMeasure {
  version: 1;
  /** Each decoded frame's time (s from the measured file's start), in order. */
  t: number[];
  /** Each frame's mean luma (0–255). */
  y: number[];
  /** Still stretches (freezedetect) and black ones (blackdetect), any length: the caller filters. */
  frozen: Span[];
  black: Span[];
  /** Where the last frame ends (s). */
  end: number;
}

/** The frame step of these times: the median difference (1/30 s when there are too few). */
export function frameStep(t: readonly number[]): number {
  return medianStep(t, 1 / 30);
}

/** Mean luma difference (0–255) under which the frames on either side of a join are the same picture. */
const SAME_PICTURE_LUMA = 1;

/**
 * One picture from the measures of consecutive pieces, each placed at `at` (s: where the piece's first
 * frame is in the joined file; its own times are taken from its first frame).
 */
export function joinPictures(parts: ReadonlyArray<{ at: number; m: PictureMeasure }>): PictureMeasure {
  const out: PictureMeasure = { version: 1, t: [], y: [], frozen: [], black: [], end: 0 };
  for (const { at, m } of parts) {
    if (m.t.length === 0) continue;
    const shift = at - m.t[0];
    const moved = (spans: Span[]) => spans.map((s) => ({ start: s.start + shift, end: s.end + shift }));
    out.frozen.push(...moved(m.frozen));
    out.black.push(...moved(m.black));
    for (let i = 0; i < m.t.length; i++) {
      out.t.push(m.t[i] + shift);
      out.y.push(m.y[i]);
    }
    out.end = m.end + shift;
  }
  out.frozen = joinTouching(out.frozen, out, true);
  out.black = joinTouching(out.black, out, false);
  return out;
}

/**
 * Spans that touch (within a frame and a half) made one; a still stretch only when the picture on
 * either side of the join is the same. Besides a piece boundary, this joins a still stretch that
 * freezedetect cut in two when the encoder sharpened a still picture a little more than its noise
 * tolerance: the same picture, improved.
 */
export function joinTouching(spans: readonly Span[], pic: PictureMeasure, still: boolean): Span[] {
  const tolerance = 1.5 * frameStep(pic.t);
  const out: Span[] = [];
  for (const s of [...spans].sort((a, b) => a.start - b.start)) {
    const last = out.at(-1);
    if (last && s.start - last.end <= tolerance && (!still || samePictureAround(pic, s.start))) last.end = Math.max(last.end, s.end);
    else out.push({ ...s });
  }
  return out;
}

/** Whether the frame at time `at` (the first at or after it) is the same picture as the one before it. */
function samePictureAround(pic: PictureMeasure, at: number): boolean {
  let lo = 0;
  let hi = pic.t.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (pic.t[mid] < at - 1e-6) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 && lo < pic.t.length && Math.abs(pic.y[lo] - pic.y[lo - 1]) <= SAME_PICTURE_LUMA;
}
