import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FlvReader, retimed } from "../../src/recorders/rtmp/flv-tags.ts";
import { rtmpEncoderArgs } from "../../src/recorders/rtmp/rtmp-recorder.ts";
import { checkRtmpUrls, redactRtmpUrl, rtmpUrlProblems } from "../../src/recorders/rtmp/rtmp-url.ts";
import { roomRecordingState } from "../../src/sfu/hms/recording-state.ts";
import type { RecordingRow } from "../../src/db/schema.ts";

// The pure parts of RTMP out: URL checks and redaction (a stream key never reaches a log), the FLV
// reader the fan-out cuts the encoder's output with, the encoder's arguments, and the rtmp state 100ms
// clients are told.

/** One FLV tag: type, timestamp, data (with its PreviousTagSize). */
function tag(type: number, ts: number, data: number[]): Buffer {
  const head = Buffer.alloc(11);
  head[0] = type;
  head.writeUIntBE(data.length, 1, 3);
  head.writeUIntBE(ts & 0xffffff, 4, 3);
  head[7] = (ts >>> 24) & 0xff;
  const size = Buffer.alloc(4);
  size.writeUInt32BE(11 + data.length);
  return Buffer.concat([head, Buffer.from(data), size]);
}

describe("RTMP URLs", () => {
  test("redacted: the key (last path segment), user info and query go", () => {
    assert.equal(redactRtmpUrl("rtmp://a.rtmp.youtube.com/live2/k0jv-329m-1y7f-ktth-ck48"), "rtmp://a.rtmp.youtube.com/live2/***");
    assert.equal(redactRtmpUrl("rtmps://u:p@live.example.com:443/app/key?token=abc"), "rtmps://live.example.com:443/app/***");
    assert.equal(redactRtmpUrl("rtmp://host/app/key/"), "rtmp://host/app/***/");
    assert.equal(redactRtmpUrl("nonsense"), "(invalid RTMP URL)");
  });

  test("problems name the URL by position and redacted form; 1..3 distinct URLs", () => {
    assert.deepEqual(rtmpUrlProblems("rtmp://host/app/key", 0), []);
    assert.deepEqual(rtmpUrlProblems("rtmps://host:443/app/key", 1), []);
    assert.match(rtmpUrlProblems("https://host/app/key", 0)[0], /^rtmp_urls\[0\] \(https:\/\/…\) must be an rtmp/);
    assert.match(
      rtmpUrlProblems("rtmp://host/key", 2)[0],
      /^rtmp_urls\[2\] \(rtmp:\/\/host\/\*\*\*\) must have an application and a stream key/,
    );
    assert.match(rtmpUrlProblems("rtmp://host/app/a key", 0)[0], /spaces or control characters/);
    assert.throws(() => checkRtmpUrls([]), /rtmp_urls invalid/);
    assert.throws(() => checkRtmpUrls(["rtmp://a/b/1", "rtmp://a/b/2", "rtmp://a/b/3", "rtmp://a/b/4"]), /rtmp_urls invalid/);
    assert.doesNotThrow(() => checkRtmpUrls(["rtmp://a/b/1", "rtmp://a/b/2", "rtmp://a/b/3"]));
  });
});

describe("FLV reader", () => {
  test("cuts a stream into tags across any chunk boundary, and tells headers and keyframes apart", () => {
    const preamble = Buffer.from([0x46, 0x4c, 0x56, 1, 5, 0, 0, 0, 9, 0, 0, 0, 0]);
    const stream = Buffer.concat([
      preamble,
      tag(18, 0, [2, 0, 10]),
      tag(9, 0, [0x17, 0, 0, 0, 0, 1]), // AVC sequence header
      tag(8, 0, [0xaf, 0, 0x12, 0x10]), // AAC sequence header
      tag(9, 40, [0x17, 1, 0, 0, 0, 9]), // keyframe
      tag(8, 60, [0xaf, 1, 7]),
      tag(9, 0x1000000 + 5, [0x27, 1, 0, 0, 0, 8]), // inter frame, extended timestamp
    ]);
    for (const step of [1, 7, 64, stream.length]) {
      const r = new FlvReader();
      const tags = [];
      for (let i = 0; i < stream.length; i += step) tags.push(...r.push(stream.subarray(i, i + step)));
      assert.deepEqual(r.preamble, preamble);
      assert.deepEqual(
        tags.map((t) => [t.kind, t.timestamp]),
        [
          ["script", 0],
          ["video-config", 0],
          ["audio-config", 0],
          ["keyframe", 40],
          ["audio", 60],
          ["video", 0x1000005],
        ],
        `chunks of ${step}`,
      );
    }
    assert.throws(() => new FlvReader().push(Buffer.from("not an flv stream")), /not FLV/);
  });

  test("retimed: a copy with the timestamp moved (extended byte included), the original untouched", () => {
    const [t] = new FlvReader().push(
      Buffer.concat([Buffer.from([0x46, 0x4c, 0x56, 1, 5, 0, 0, 0, 9, 0, 0, 0, 0]), tag(9, 0x1000000 + 5, [0x27, 1])]),
    );
    const moved = retimed(t, 1234);
    const [again] = new FlvReader().push(Buffer.concat([Buffer.from([0x46, 0x4c, 0x56, 1, 5, 0, 0, 0, 9, 0, 0, 0, 0]), moved]));
    assert.equal(again.timestamp, 1234);
    assert.equal(t.timestamp, 0x1000005);
    assert.equal(retimed(t, -5).readUIntBE(4, 3), 0);
  });
});

test("the encoder: H.264 copied, AAC once; FLV on stdout, and the MP4 spool through tee when recorded", () => {
  const plain = rtmpEncoderArgs(null);
  assert.deepEqual(plain.slice(-3), ["-f", "flv", "pipe:1"]);
  assert.ok(plain.join(" ").includes("-c:v copy -c:a aac"));
  const tee = rtmpEncoderArgs("/data/rtmp/a:b/recording.mp4");
  assert.equal(tee.at(-2), "tee");
  assert.match(tee.at(-1)!, /^\[f=flv:onfail=abort\]pipe\\:1\|\[f=mp4:.*onfail=ignore\]\/data\/rtmp\/a\\:b\/recording\.mp4$/);
});

test("100ms clients' rtmp state: running once the external stream runs, not while it starts or stops", () => {
  const row = (status: RecordingRow["status"]) =>
    ({ kind: "rtmp", status, started_at: "2026-12-07T10:00:00.000Z", paused: 0 }) as RecordingRow;
  assert.deepEqual(roomRecordingState([row("running")]).rtmp, { running: true, startedAt: Date.parse("2026-12-07T10:00:00.000Z") });
  assert.equal(roomRecordingState([row("starting")]).rtmp.running, false);
  assert.equal(roomRecordingState([row("stopping")]).rtmp.running, false);
  assert.equal(roomRecordingState([]).rtmp.running, false);
});
