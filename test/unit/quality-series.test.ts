import assert from "node:assert/strict";
import { test } from "node:test";
import { appendSample, emptySeries, MAX_POINTS, renderPeerStats, sampleBetween } from "../../src/analytics/quality-series.ts";

// peer-stats' pure part: a sample from two counter readings, the series' bound, and 100ms's answer shape.

test("a sample is the change between two readings: bits per second, fps, loss percent; rtt and jitter in ms", () => {
  const s = sampleBetween(
    { at: 1_000, bytes: 0, packets: 0, lost: 0, frames: 0 },
    { at: 3_000, bytes: 250_000, packets: 198, lost: 2, frames: 30 },
    { rttS: 0.0451, jitterS: 0.0021 },
  );
  assert.deepEqual(s, { at: 3_000, bitrate: 1_000_000, fps: 15, packet_loss_percent: 1, rtt_ms: 45.1, jitter_ms: 2.1 });
  // Readings less than 0.2 s apart make no sample.
  assert.equal(
    sampleBetween(
      { at: 5, bytes: 0, packets: 0, lost: 0, frames: 0 },
      { at: 150, bytes: 9, packets: 1, lost: 0, frames: 0 },
      { rttS: null, jitterS: null },
    ),
    null,
  );
  // A subscriber's loss is known from its receiver report as a fraction; unknown values stay null.
  const sub = sampleBetween(
    { at: 0, bytes: 0, packets: 0, lost: null, frames: 0 },
    { at: 1_000, bytes: 1_000, packets: 10, lost: null, frames: 0 },
    { rttS: null, jitterS: null, lossFraction: 0.125 },
  );
  assert.deepEqual([sub?.packet_loss_percent, sub?.rtt_ms, sub?.jitter_ms, sub?.bitrate], [12.5, null, null, 8_000]);
});

test("a series never grows past MAX_POINTS: it halves, averaging neighbours", () => {
  const series = emptySeries("t", "video", "regular");
  for (let i = 0; i <= MAX_POINTS; i++)
    appendSample(series, { at: i, bitrate: i % 2 ? 200 : 100, fps: 10, packet_loss_percent: i % 2 ? null : 2, rtt_ms: 10, jitter_ms: 1 });
  assert.equal(series.timestamps.length, Math.ceil((MAX_POINTS + 1) / 2));
  assert.deepEqual([series.timestamps[0], series.bitrate[0], series.packet_loss_percent[0]], [1, 150, 2]);
  for (const k of ["bitrate", "fps", "packet_loss_percent", "rtt_ms", "jitter_ms"] as const)
    assert.equal(series[k].length, series.timestamps.length);
});

test("peer-stats answers in 100ms's shape: publisher and subscriber, video and audio, unmeasured metrics empty", () => {
  const v = emptySeries("v1", "video", "screen");
  appendSample(v, { at: 10, bitrate: 1, fps: 2, packet_loss_percent: 0, rtt_ms: 3, jitter_ms: 4 });
  const a = emptySeries("a1", "audio", "regular");
  const out = renderPeerStats("peer", "session", { room_id: "room", publisher: [v, a], subscriber: [v, a] });
  assert.deepEqual(out.publisher.video, [
    {
      track_id: "v1",
      type: "screen",
      rid: null,
      time_series: { timestamps: [10], bitrate: [1], fps: [2], packet_loss_percent: [0], rtt_ms: [3], jitter_ms: [4] },
    },
  ]);
  assert.deepEqual(Object.keys(out.publisher.audio[0].time_series), [
    "timestamps",
    "bitrate",
    "packet_loss_percent",
    "rtt_ms",
    "jitter_ms",
  ]);
  assert.deepEqual(out.subscriber.video[0].time_series.freeze_count, []);
  assert.deepEqual(Object.keys(out.subscriber.audio[0].time_series), [
    "timestamps",
    "bitrate",
    "concealed_samples",
    "packet_loss_percent",
    "rtt_ms",
  ]);
  assert.deepEqual([out.peer_id, out.session_id, out.room_id], ["peer", "session", "room"]);
});
