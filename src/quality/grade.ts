import type { QualityExpectation, QualityGrade, Span, UngradedReport } from "./report.ts";
import { clock, coveredSeconds, longestSpan, median } from "./spans.ts";

// The grade of a quality report, from its measurements alone: pure, so the rule can be tested on its
// own and a report can be graded again (with the caller's gaps and tracks) without touching the file.
// Each rule that fires adds one plain sentence; the worst rule decides the grade. Silence is reported
// but never lowers the grade: meetings are quiet at times. Nor does a pause (listed as a gap of no length
// where it cut the file): the user chose it, and nothing is missing from the file.

/** Every threshold of the rule, with why it sits where it does. */
export const QUALITY_THRESHOLDS = Object.freeze({
  /** bad: frozen and black spans together cover more than this share of the file: most of it shows nothing useful. */
  badStillShare: 0.5,
  /** bad: the median second has fewer frames than this share of the nominal rate: motion stutters all through. */
  badFpsShare: 0.5,
  /**
   * bad: the sound is further than this from the picture (ms): lips are plainly out of sync for everyone
   * (ITU-R BT.1359 puts the limit of what viewers accept at 90 ms early and 185 ms late).
   */
  badAvOffsetMs: 200,
  /** bad: gaps (those with a length) cover more than this share of the file: a fifth of the meeting is missing. */
  badGapShare: 0.2,
  /**
   * A black picture from the file's very start, for at most this long (s), is the wait for the first
   * picture, not a fault: a recording starts when it is asked to, and the first camera is decoded a
   * moment later (an SFU composite starts with its session, before anyone's video has arrived; 1.4 s in
   * a 4-publisher bench). It is reported, and counts toward the still share, but does not degrade.
   */
  leadingBlackSeconds: 3,
  /** degraded: a full second with fewer frames than this share of the nominal rate: a stutter people see. */
  degradedFpsShare: 0.8,
  /** degraded: the sound is further than this from the picture (ms): ITU-R BT.1359's threshold of detectability (sound early). */
  degradedAvOffsetMs: 45,
  /** degraded: clipping covers more than this share of the file: distortion people hear, not a stray peak. */
  degradedClippingShare: 0.01,
  /** degraded: a track lost more than this percentage of its packets: more than retransmission hides, so there are artefacts. */
  degradedLossPct: 2,
  /**
   * degraded: a live output's encoder was further than this behind real time at some point (ms): more
   * than the three 2 s segments a live player keeps in hand (hls.js's default live sync), so its viewers'
   * players could run dry; a healthy encoder sits at a second or two (a chunk or frame in flight, lookahead).
   */
  degradedEncoderLagMs: 6000,
  /** "silent throughout": silence covers at least this share of the file (a click or two is not sound). */
  silentShare: 0.99,
});

const T = QUALITY_THRESHOLDS;
const percent = (share: number) => `${Math.round(share * 100)}%`;

/** The grading rule in plain words (the report's `rule`). */
export const QUALITY_RULE =
  "Bad if the file has neither picture nor sound; video was expected but no picture could be decoded, or audio was expected " +
  "but there is no sound; " +
  `frozen and black spans cover more than ${percent(T.badStillShare)} of the file; ` +
  `the median second's frame rate is below ${percent(T.badFpsShare)} of the nominal rate; ` +
  `the sound is more than ${T.badAvOffsetMs} ms ahead of or behind the picture; ` +
  `or gaps cover more than ${percent(T.badGapShare)} of the file. ` +
  "Degraded if the picture froze or was black for over a second " +
  `(a black start of up to ${T.leadingBlackSeconds} s, the wait for the first picture, is not counted); ` +
  `a full second (not the first or last) has less than ${percent(T.degradedFpsShare)} of the nominal frame rate; ` +
  `the sound is more than ${T.degradedAvOffsetMs} ms ahead of or behind the picture; ` +
  `the sound clipped for more than ${percent(T.degradedClippingShare)} of the file; ` +
  "there is sound but it is silent throughout; there is any gap (a gap of no length, where a pause cut the file, is not counted); " +
  `a track lost more than ${T.degradedLossPct}% of its packets; ` +
  `or a live output's encoder fell more than ${T.degradedEncoderLagMs / 1000} s behind real time. ` +
  "Good otherwise. Silence is reported but does not lower the grade.";

/** "2.3%" under 10%, "62%" above. */
const share = (x: number) => (x < 0.1 ? `${(Math.round(x * 1000) / 10).toFixed(1)}%` : percent(x));
const secs = (s: number) => `${s.toFixed(1)} s`;
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** "the picture froze for 3.0 s at 0:04", or for several: "… 3 times, 7.5 s in all, the longest for 3.0 s at 0:04". */
function spansSentence(what: string, spans: readonly Span[]): string {
  const longest = longestSpan(spans)!;
  const at = `for ${secs(longest.end - longest.start)} at ${clock(longest.start)}`;
  if (spans.length === 1) return `${what} ${at}`;
  return `${what} ${spans.length} times, ${secs(coveredSeconds(spans))} in all, the longest ${at}`;
}

/** Grades `r` (the thresholds above, in QUALITY_RULE's words): the grade, one reason per rule that fired (worst first), the rule. */
export function gradeReport(r: UngradedReport, expect: QualityExpectation = {}): { grade: QualityGrade; reasons: string[]; rule: string } {
  const bad: string[] = [];
  const degraded: string[] = [];
  const duration = r.file.duration;
  const shareOf = (seconds: number) => (duration > 0 ? seconds / duration : 0);
  const { video, audio } = r.file;

  if (expect.video && !video) bad.push("no picture could be decoded, although the file should have video");
  if (expect.audio && !audio) bad.push("there is no sound, although the file should have audio");
  if (!video && !audio && !expect.video && !expect.audio) bad.push("the file has neither picture nor sound");

  const still = shareOf(coveredSeconds([...r.spans.frozen, ...r.spans.black]));
  if (still > T.badStillShare) bad.push(`the picture was frozen or black for ${share(still)} of the file`);
  if (r.spans.frozen.length) degraded.push(spansSentence("the picture froze", r.spans.frozen));
  const black = r.spans.black.filter((b) => !(b.start <= 0.1 && b.end <= T.leadingBlackSeconds));
  if (black.length) degraded.push(spansSentence("the picture was black", black));

  const fps = r.timeline.fps;
  if (video && video.fps > 0 && fps.length) {
    // Only whole seconds: the last one is usually cut short by the file's end.
    const whole = fps.filter((_, i) => i + 1 <= duration + 1e-6);
    const typical = median(whole.length ? whole : fps);
    if (typical < T.badFpsShare * video.fps) {
      bad.push(`the frame rate was ${typical} fps in the median second, against a nominal ${video.fps} fps`);
    } else {
      // The first and last seconds are left out: a stream starts and ends between frames.
      const floor = T.degradedFpsShare * video.fps;
      const slow = fps.flatMap((n, i) => (i > 0 && i < fps.length - 1 && i + 1 <= duration + 1e-6 && n < floor ? [i] : []));
      if (slow.length)
        degraded.push(
          `the frame rate fell below ${Math.round(floor * 10) / 10} fps in ${plural(slow.length, "second")}, the first at ${clock(slow[0])}`,
        );
    }
  }

  const av = r.av_offset.ms;
  if (av !== null) {
    const sentence = `the sound is ${Math.round(Math.abs(av))} ms ${av > 0 ? "behind" : "ahead of"} the picture`;
    if (Math.abs(av) > T.badAvOffsetMs) bad.push(sentence);
    else if (Math.abs(av) > T.degradedAvOffsetMs) degraded.push(sentence);
  }

  const clipped = shareOf(coveredSeconds(r.spans.clipping));
  if (clipped > T.degradedClippingShare)
    degraded.push(
      `the sound clipped for ${share(clipped)} of the file, the first time at ${clock(r.spans.clipping.reduce((at, s) => Math.min(at, s.start), Number.POSITIVE_INFINITY))}`,
    );
  if (audio && shareOf(coveredSeconds(r.spans.silence)) >= T.silentShare) degraded.push("the sound is silent throughout");

  // A gap of no length marks a cut (a pause: its time is not in the file, which goes on from the resume):
  // nothing is missing from the file there, and pausing was the user's choice, so it is listed, not counted.
  const gaps = r.spans.gaps.filter((g) => g.end > g.start);
  if (gaps.length) {
    const first = [...gaps].sort((a, b) => a.start - b.start)[0];
    const missing = shareOf(coveredSeconds(gaps));
    const where = `the first at ${clock(first.start)}: ${first.reason}`;
    if (missing > T.badGapShare) bad.push(`media is missing for ${share(missing)} of the file (${plural(gaps.length, "gap")}, ${where})`);
    else if (gaps.length === 1)
      degraded.push(`media is missing for ${secs(first.end - first.start)} at ${clock(first.start)} (${first.reason})`);
    else degraded.push(`media is missing in ${gaps.length} gaps, ${secs(coveredSeconds(gaps))} in all (${where})`);
  }

  const lossy = (r.tracks ?? []).filter((t) => t.loss_pct > T.degradedLossPct);
  if (lossy.length) {
    const named = lossy.map((t) => `the ${t.kind} track ${t.track_id} of peer ${t.peer_id} (${t.loss_pct}%)`);
    degraded.push(
      lossy.length === 1
        ? `the ${lossy[0].kind} track ${lossy[0].track_id} of peer ${lossy[0].peer_id} lost ${lossy[0].loss_pct}% of its packets`
        : `${lossy.length} tracks lost more than ${T.degradedLossPct}% of their packets: ${named.join(", ")}`,
    );
  }

  const lag = r.live?.encoder_lag_ms;
  if (lag && lag.max > T.degradedEncoderLagMs)
    degraded.push(`the live encoder fell ${secs(lag.max / 1000)} behind real time (${secs(lag.median / 1000)} in the median second)`);

  const grade: QualityGrade = bad.length ? "bad" : degraded.length ? "degraded" : "good";
  return { grade, reasons: [...bad, ...degraded], rule: QUALITY_RULE };
}
