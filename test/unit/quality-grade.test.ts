import assert from "node:assert/strict";
import { test } from "node:test";
import { gradeReport, QUALITY_RULE } from "../../src/quality/grade.ts";
import type { UngradedReport } from "../../src/quality/report.ts";

// The grading rule on its own (pure): each threshold on both sides, the sentence each rule writes, and
// that silence never lowers a grade. The measurements come from test/integration/quality-analysis.test.ts.

/** A clean minute: 30 fps every second, in sync, no spans; `change` edits it. */
function report(change: (r: UngradedReport) => void = () => {}): UngradedReport {
  const r: UngradedReport = {
    version: 1,
    file: { duration: 60, video: { width: 1280, height: 720, fps: 30 }, audio: { sample_rate: 48000, channels: 2 } },
    timeline: { fps: new Array(60).fill(30), bitrate_kbps: new Array(60).fill(1500), av_offset_ms: new Array(60).fill(0) },
    spans: { frozen: [], black: [], silence: [], clipping: [], gaps: [] },
    av_offset: { ms: 0, events: 60, method: "test" },
    analysis: { seconds: 1 },
  };
  change(r);
  return r;
}

const both = { video: true, audio: true };

test("a clean file is good, with no reasons, and the rule is stated", () => {
  assert.deepEqual(gradeReport(report(), both), { grade: "good", reasons: [], rule: QUALITY_RULE });
  assert.match(QUALITY_RULE, /more than 200 ms/);
  assert.match(QUALITY_RULE, /more than 45 ms/);
  assert.match(QUALITY_RULE, /Silence is reported but does not lower the grade/);
});

test("a missing expected stream is bad; a missing stream nobody expected is not", () => {
  const noVideo = report((r) => {
    r.file.video = null;
    r.timeline.fps = [];
    r.av_offset = { ms: null, events: 0, method: "test", note: "no picture" };
  });
  assert.deepEqual(gradeReport(noVideo, both).reasons, ["no picture could be decoded, although the file should have video"]);
  assert.equal(gradeReport(noVideo, { audio: true }).grade, "good");
  assert.equal(gradeReport(noVideo).grade, "good");
  const noAudio = report((r) => (r.file.audio = null));
  assert.deepEqual(gradeReport(noAudio, both).reasons, ["there is no sound, although the file should have audio"]);
  assert.equal(gradeReport(noAudio, { video: true }).grade, "good");
  const nothing = report((r) => ((r.file.audio = null), (r.file.video = null)));
  assert.deepEqual(gradeReport(nothing), { grade: "bad", reasons: ["the file has neither picture nor sound"], rule: QUALITY_RULE });
});

test("any frozen or black span is degraded; more than half the file frozen or black is bad", () => {
  const frozen = gradeReport(report((r) => (r.spans.frozen = [{ start: 4, end: 7 }])));
  assert.deepEqual(frozen, { grade: "degraded", reasons: ["the picture froze for 3.0 s at 0:04"], rule: QUALITY_RULE });
  const twice = gradeReport(
    report(
      (r) =>
        (r.spans.black = [
          { start: 10, end: 11.5 },
          { start: 40, end: 43 },
        ]),
    ),
  );
  assert.deepEqual(twice.reasons, ["the picture was black 2 times, 4.5 s in all, the longest for 3.0 s at 0:40"]);
  // 30 s of 60 is half, not more than half: degraded. Frozen and black overlapping count once.
  const half = report((r) => {
    r.spans.frozen = [{ start: 0, end: 20 }];
    r.spans.black = [{ start: 10, end: 30 }];
  });
  assert.equal(gradeReport(half).grade, "degraded");
  const most = report((r) => {
    r.spans.frozen = [{ start: 0, end: 20 }];
    r.spans.black = [{ start: 10, end: 30.6 }];
  });
  const g = gradeReport(most);
  assert.equal(g.grade, "bad");
  assert.equal(g.reasons[0], "the picture was frozen or black for 51% of the file");
});

test("a black start of up to 3 s is the wait for the first picture: reported, not counted; a longer one is", () => {
  const start = (end: number) => gradeReport(report((r) => (r.spans.black = [{ start: 0, end }])));
  assert.deepEqual([start(1.4).grade, start(1.4).reasons], ["good", []]);
  assert.deepEqual([start(3).grade, start(3).reasons], ["good", []]);
  assert.deepEqual(start(3.5).reasons, ["the picture was black for 3.5 s at 0:00"]);
  // Not at the start: counted.
  assert.equal(gradeReport(report((r) => (r.spans.black = [{ start: 5, end: 6.4 }]))).grade, "degraded");
});

test("frame rate: a median second under half the nominal rate is bad; a middle second under 80% is degraded", () => {
  const slow = (n: number) => report((r) => (r.timeline.fps = new Array(60).fill(n)));
  assert.equal(gradeReport(slow(15)).grade, "degraded"); // half of 30 is not below half, but every second is below 24
  assert.deepEqual(gradeReport(slow(14)).reasons, ["the frame rate was 14 fps in the median second, against a nominal 30 fps"]);
  const dip = (i: number, n: number) =>
    report((r) => {
      r.timeline.fps[i] = n;
    });
  assert.deepEqual(gradeReport(dip(12, 23)).reasons, ["the frame rate fell below 24 fps in 1 second, the first at 0:12"]);
  assert.equal(gradeReport(dip(12, 24)).grade, "good");
  // The first and last seconds are not counted, nor a last second cut short.
  assert.equal(gradeReport(dip(0, 5)).grade, "good");
  assert.equal(gradeReport(dip(59, 5)).grade, "good");
  const cut = report((r) => {
    r.file.duration = 59.5;
    r.timeline.fps = [...new Array(59).fill(30), 12, 0];
  });
  assert.equal(gradeReport(cut).grade, "good");
});

test("A/V offset: over 45 ms is degraded, over 200 ms bad, each side of the picture named", () => {
  const av = (ms: number | null) => gradeReport(report((r) => (r.av_offset.ms = ms)));
  assert.equal(av(45).grade, "good");
  assert.equal(av(-45).grade, "good");
  assert.deepEqual(av(46).reasons, ["the sound is 46 ms behind the picture"]);
  assert.deepEqual(av(-120).reasons, ["the sound is 120 ms ahead of the picture"]);
  assert.equal(av(200).grade, "degraded");
  assert.deepEqual(av(201), { grade: "bad", reasons: ["the sound is 201 ms behind the picture"], rule: QUALITY_RULE });
  assert.equal(av(-201).grade, "bad");
  assert.equal(av(null).grade, "good");
});

test("clipping over 1% of the file is degraded", () => {
  const clip = (seconds: number) => gradeReport(report((r) => (r.spans.clipping = [{ start: 30, end: 30 + seconds }])));
  assert.equal(clip(0.5).grade, "good");
  assert.deepEqual(clip(0.7).reasons, ["the sound clipped for 1.2% of the file, the first time at 0:30"]);
});

test("silence never lowers the grade, unless there is sound and it is silent throughout", () => {
  assert.equal(gradeReport(report((r) => (r.spans.silence = [{ start: 0, end: 50 }]))).grade, "good");
  assert.deepEqual(gradeReport(report((r) => (r.spans.silence = [{ start: 0, end: 60 }]))).reasons, ["the sound is silent throughout"]);
  // No sound at all is not silent sound (and only bad when sound was expected).
  const none = report((r) => {
    r.file.audio = null;
    r.spans.silence = [{ start: 0, end: 60 }];
  });
  assert.equal(gradeReport(none).grade, "good");
});

test("any gap is degraded; gaps over 20% of the file are bad", () => {
  const gaps = (spans: Array<[number, number]>) =>
    gradeReport(
      report((r) => (r.spans.gaps = spans.map(([start, end]) => ({ start, end, reason: "the publisher's connection dropped" })))),
    );
  assert.deepEqual(gaps([[5, 7]]).reasons, ["media is missing for 2.0 s at 0:05 (the publisher's connection dropped)"]);
  assert.deepEqual(
    gaps([
      [5, 7],
      [20, 21],
    ]).reasons,
    ["media is missing in 2 gaps, 3.0 s in all (the first at 0:05: the publisher's connection dropped)"],
  );
  assert.equal(gaps([[0, 12]]).grade, "degraded"); // 20%: not more
  assert.deepEqual(
    gaps([
      [10, 20],
      [30, 32.6],
    ]).reasons,
    ["media is missing for 21% of the file (2 gaps, the first at 0:10: the publisher's connection dropped)"],
  );
});

test("a pause (a gap of no length where it cut the file) never lowers the grade, and is not counted among the gaps", () => {
  const paused = { start: 12, end: 12, reason: "paused for 30.0 s (by the API): that time is not in the file" };
  assert.deepEqual(
    gradeReport(
      report((r) => (r.spans.gaps = [paused])),
      both,
    ),
    { grade: "good", reasons: [], rule: QUALITY_RULE },
  );
  // Beside a real gap, only the real gap is counted and named, and its share of the file is unchanged.
  const lost = { start: 40, end: 43, reason: "the recorder's connection to the room ended" };
  assert.deepEqual(gradeReport(report((r) => (r.spans.gaps = [paused, lost]))).reasons, [
    "media is missing for 3.0 s at 0:40 (the recorder's connection to the room ended)",
  ]);
  // Many pauses are still nothing missing: not "more than 20% of the file".
  const many = Array.from({ length: 30 }, (_, i) => ({ ...paused, start: i * 2, end: i * 2 }));
  assert.equal(gradeReport(report((r) => (r.spans.gaps = many))).grade, "good");
  assert.match(QUALITY_RULE, /a gap of no length, where a pause cut the file, is not counted/);
});

test("a track losing more than 2% of its packets is degraded", () => {
  const track = (loss: number) => ({
    track_id: "t1",
    peer_id: "p1",
    kind: "video" as const,
    packets: 1000,
    lost: loss * 10,
    loss_pct: loss,
    keyframe_requests: 0,
    resolution_changes: [],
  });
  assert.equal(gradeReport(report((r) => (r.tracks = [track(2)]))).grade, "good");
  assert.deepEqual(gradeReport(report((r) => (r.tracks = [track(2.5)]))).reasons, [
    "the video track t1 of peer p1 lost 2.5% of its packets",
  ]);
  const two = gradeReport(report((r) => (r.tracks = [track(3), { ...track(4), track_id: "t2", kind: "audio" }])));
  assert.deepEqual(two.reasons, [
    "2 tracks lost more than 2% of their packets: the video track t1 of peer p1 (3%), the audio track t2 of peer p1 (4%)",
  ]);
});

test("a live encoder more than 6 s behind real time is degraded; a steady lag of a second or two is not", () => {
  const live = (median: number, max: number) => report((r) => (r.live = { encoder_lag_ms: { median, max } }));
  assert.equal(gradeReport(live(1200, 2500), both).grade, "good");
  assert.equal(gradeReport(live(3000, 6000), both).grade, "good"); // 6 s is not more than 6 s
  assert.deepEqual(gradeReport(live(2100, 9400), both), {
    grade: "degraded",
    reasons: ["the live encoder fell 9.4 s behind real time (2.1 s in the median second)"],
    rule: QUALITY_RULE,
  });
  // A file that is not a live output has no `live`, and nothing to say about it.
  assert.equal(gradeReport(report(), both).grade, "good");
  assert.match(QUALITY_RULE, /live output's encoder fell more than 6 s behind real time/);
});

test("bad reasons come before degraded ones, one sentence per rule", () => {
  const g = gradeReport(
    report((r) => {
      r.spans.frozen = [{ start: 4, end: 7 }];
      r.av_offset.ms = 250;
    }),
  );
  assert.deepEqual(g, {
    grade: "bad",
    reasons: ["the sound is 250 ms behind the picture", "the picture froze for 3.0 s at 0:04"],
    rule: QUALITY_RULE,
  });
});
