import assert from "node:assert/strict";
import { test } from "node:test";
import { patchWebmVideoSize } from "../../src/recorders/sfu/track-recorder.ts";

test("the WebM video size is rewritten in place; other headers are left alone", () => {
  const header = Buffer.from("1a45dfa3" + "85565f565038" + "e088b0820280ba820168" + "1f43b675", "hex");
  assert.equal(patchWebmVideoSize(header, 320, 180), true);
  assert.equal(header.toString("hex"), "1a45dfa3" + "85565f565038" + "e088b0820140ba8200b4" + "1f43b675");
  const other = Buffer.from("1a45dfa3e08ab083000280", "hex");
  assert.equal(patchWebmVideoSize(other, 320, 180), false);
  assert.equal(other.toString("hex"), "1a45dfa3e08ab083000280");
});

test("H.264 keyframes as werift's writer sees them: an IDR alone or in FU-A fragments, not SPS or STAP-A", async () => {
  const { h264StartsKeyframe } = await import("../../src/recorders/sfu/track-recorder.ts");
  assert.equal(h264StartsKeyframe(Buffer.from([0x65, 0x88])), true, "IDR slice");
  assert.equal(h264StartsKeyframe(Buffer.from([0x7c, 0x85])), true, "FU-A start of an IDR");
  assert.equal(h264StartsKeyframe(Buffer.from([0x7c, 0x45])), true, "FU-A end of an IDR (werift counts every fragment)");
  assert.equal(h264StartsKeyframe(Buffer.from([0x7c, 0x81])), false, "FU-A of a non-IDR slice");
  assert.equal(h264StartsKeyframe(Buffer.from([0x41, 0x9a])), false, "non-IDR slice");
  assert.equal(h264StartsKeyframe(Buffer.from([0x67, 0x42])), false, "SPS alone");
  assert.equal(
    h264StartsKeyframe(Buffer.from([0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x65, 0x88])),
    false,
    "STAP-A, even holding an IDR",
  );
  assert.equal(h264StartsKeyframe(Buffer.alloc(0)), false, "padding");
});

test("padding-only video packets never reach the writer, and the sequence numbers after them close up", async () => {
  const { withoutPadding } = await import("../../src/recorders/sfu/track-recorder.ts");
  const { Event, RtpHeader, RtpPacket } = await import("werift");
  const source = { kind: "video", codec: { name: "VP8" }, onReceiveRtp: new Event(), onReceiveRtcp: new Event() };
  const { track, stop } = withoutPadding(source as never);
  const seen: number[] = [];
  track.onReceiveRtp.subscribe((rtp) => seen.push(rtp.header.sequenceNumber));
  const send = (seq: number, bytes: number) =>
    source.onReceiveRtp.execute(new RtpPacket(new RtpHeader({ sequenceNumber: seq }), Buffer.alloc(bytes, 1)));
  send(65534, 100);
  send(65535, 0);
  send(0, 0);
  send(1, 100);
  send(2, 100);
  assert.deepEqual(seen, [65534, 65535, 0]);
  stop();
  send(3, 100);
  assert.deepEqual(seen, [65534, 65535, 0], "nothing after stop");
});
