import assert from "node:assert/strict";
import { test } from "node:test";
import { gapsWithin, notePause, type PausedSpan, pausesInFile } from "../../src/recorders/core/known-gaps.ts";

// Pauses as a browser recording's quality report lists them: noted as they happen, then each placed
// where it cut the file (its wall time less the file's time 0 and the paused time before it).

const EPOCH = 1_700_000_000_000;
const at = (s: number) => EPOCH + s * 1000;

test("a pause and its resume are noted once each; a repeat changes nothing", () => {
  const spans: PausedSpan[] = [];
  assert.equal(notePause(spans, true, at(3)), true);
  assert.equal(notePause(spans, true, at(4)), false, "already paused");
  assert.equal(notePause(spans, false, at(7)), true);
  assert.equal(notePause(spans, false, at(8)), false, "not paused");
  assert.deepEqual(spans, [{ from: at(3), to: at(7) }]);
});

test("each pause sits at its file time, the earlier pauses' time left out, saying how long it lasted", () => {
  const gaps = pausesInFile(
    [
      { from: at(3), to: at(33) },
      { from: at(40), to: at(41.25) },
    ],
    EPOCH,
    at(60),
  );
  assert.deepEqual(gaps, [
    { start: 3, end: 3, reason: "paused for 30.0 s (by the API): that time is not in the file, which goes on from the resume" },
    // 40 s after the start, less the 30 s paused before it.
    { start: 10, end: 10, reason: "paused for 1.3 s (by the API): that time is not in the file, which goes on from the resume" },
  ]);
});

test("a pause still on at the stop is listed at the file's end, lasting until the stop", () => {
  const [gap] = pausesInFile([{ from: at(12), to: null }], EPOCH, at(20));
  assert.deepEqual(gap, { start: 12, end: 12, reason: "paused for 8.0 s (by the API) until the recording stopped: the file ends there" });
  // As a file of 11.98 s (its end a frame or two before the capture's clock) reports it: at its end.
  assert.deepEqual(gapsWithin([gap], 11.98), [{ ...gap, start: 11.98, end: 11.98 }]);
});

test("a pause noted before the file's time 0 is at its start; gaps with a length are cut at the file's end as before", () => {
  assert.equal(pausesInFile([{ from: at(-1), to: at(2) }], EPOCH, at(10))[0].start, 0);
  assert.deepEqual(gapsWithin([{ start: 5, end: 20, reason: "lost" }], 12), [{ start: 5, end: 12, reason: "lost" }]);
  assert.deepEqual(gapsWithin([{ start: 13, end: 20, reason: "lost" }], 12), [], "a gap after the file's end is not in it");
});
