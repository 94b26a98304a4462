import assert from "node:assert/strict";
import { test } from "node:test";
import { EncoderLag, progressSeconds } from "../../src/recorders/core/encoder-lag.ts";

// A live output's encoder lag (recorders/core/encoder-lag.ts), from ffmpeg's `-progress` lines: the real
// time since the file's first frame less the media time written, sampled once a second.

test("ffmpeg's progress lines: out_time_us is the media time written; N/A and other keys are not", () => {
  assert.equal(progressSeconds("out_time_us=2500000"), 2.5);
  assert.equal(progressSeconds("out_time_us=N/A"), null);
  assert.equal(progressSeconds("out_time_ms=2500000"), null);
  assert.equal(progressSeconds("out_time=00:00:02.500000"), null);
  assert.equal(progressSeconds("progress=continue"), null);
});

test("an encoder keeping pace has a steady lag; one falling behind shows it in the maximum", () => {
  const zero = 1_000_000;
  const steady = new EncoderLag(() => zero);
  // 0.8 s behind, every second for a minute.
  for (let s = 1; s <= 60; s++) steady.line(`out_time_us=${Math.round((s - 0.8) * 1e6)}`, zero + s * 1000);
  assert.deepEqual(steady.summary(), { median: 800, max: 800 });
  assert.equal(steady.samples, 60);

  const behind = new EncoderLag(() => zero);
  // Keeping pace for 50 s, then encoding at half speed for 10 s: 5 s behind by the end.
  for (let s = 1; s <= 60; s++) {
    const media = s <= 50 ? s - 1 : 49 + (s - 50) / 2;
    behind.sample(media, zero + s * 1000);
  }
  assert.deepEqual(behind.summary(), { median: 1000, max: 6000 });
});

test("nothing is sampled before the file's time 0 is known or before its first packet; never a negative lag", () => {
  let zero = 0;
  const lag = new EncoderLag(() => zero);
  lag.sample(1, 5000);
  assert.equal(lag.summary(), null, "time 0 not known yet");
  zero = 10_000;
  lag.line("out_time_us=0", 11_000);
  lag.line("out_time_us=N/A", 11_000);
  assert.equal(lag.summary(), null, "no packet written yet");
  // A half-second chunk written at once, its media ahead of the clock by a moment: 0, not negative.
  lag.sample(1.5, 11_200);
  assert.deepEqual(lag.summary(), { median: 0, max: 0 });
});
