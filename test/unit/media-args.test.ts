import assert from "node:assert/strict";
import { test } from "node:test";
import { buildSyntheticSourceArgs, drawtextSafe } from "../../src/media/ffmpeg-args.ts";
import { BitrateEstimator, rembPacket } from "../../src/sfu/remb.ts";
import { ReceiverEstimatedMaxBitrate, RtpHeader, RtpPacket } from "werift";

test("synthetic source: VP8 and Opus to the two RTP ports, duration on both inputs", () => {
  const args = buildSyntheticSourceArgs({
    width: 1280,
    height: 720,
    fps: 30,
    label: "A",
    videoPort: 5000,
    audioPort: 5002,
    videoSsrc: 1,
    audioSsrc: 2,
    videoPayloadType: 96,
    audioPayloadType: 111,
    videoBitrateKbps: 1500,
    durationSeconds: 5,
  });
  assert.equal(args.filter((a) => a === "-t").length, 2);
  assert.ok(args.includes("libvpx") && args.includes("libopus"));
  assert.ok(args.includes("rtp://127.0.0.1:5000?pkt_size=1200") && args.includes("rtp://127.0.0.1:5002?pkt_size=1200"));
  assert.ok(args.some((a) => a.startsWith("testsrc2=size=1280x720:rate=30")));
});

test("labels cannot break out of the drawtext option", () => {
  assert.equal(drawtextSafe("it's: 100%; drop"), "it s  100   drop");
  assert.equal(drawtextSafe("Zoë (host)"), "Zoë (host)");
  assert.equal(drawtextSafe("'''"), "participant");
});

test("REMB encodes the bitrate as mantissa and exponent", () => {
  const p = rembPacket(1, 0xabcd, 1_500_000);
  const remb = p.feedback as ReceiverEstimatedMaxBitrate;
  const decoded = ReceiverEstimatedMaxBitrate.deSerialize(remb.serialize());
  assert.ok(Math.abs(Number(decoded.bitrate) - 1_500_000) < 1_500_000 / 2 ** 17);
  assert.deepEqual(decoded.ssrcFeedbacks, [0xabcd]);
});

test("the estimate grows on a clean stream and backs off on loss", () => {
  const e = new BitrateEstimator({ minBps: 300_000, maxBps: 4_000_000 });
  const packet = (seq: number) => new RtpPacket(new RtpHeader({ sequenceNumber: seq, payloadType: 96 }), Buffer.alloc(1000));
  let seq = 0;
  let estimate = 0;
  for (let s = 0; s < 5; s++) {
    for (let i = 0; i < 100; i++) e.onPacket(packet(seq++)); // ~800 kbps
    estimate = e.tick(1000);
  }
  assert.ok(estimate > 1_200_000, `clean stream estimate ${estimate}`);
  for (let i = 0; i < 100; i++) e.onPacket(packet((seq += 2))); // half the packets lost
  assert.ok(e.tick(1000) < estimate);
});
