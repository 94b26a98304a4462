import assert from "node:assert/strict";
import { test } from "node:test";
import { JOB_TYPES, JobPayloadError, readJobPayload } from "../../src/jobs/job-payloads.ts";

// A job's payload is checked when it is read back from the database: a corrupt row is a clear error.

const track = {
  file: "/spool/t.webm",
  recordedTrackId: "t1",
  recordingId: "r1",
  roomId: "room",
  sessionId: "s1",
  sessionStartedAt: "2026-12-01T10:00:00.000Z",
  peerId: "p1",
  streamId: "st",
  trackId: "tr",
  trackType: "video",
  startedAt: "2026-12-01T10:00:00.000Z",
  endedAt: "2026-12-01T10:01:00.000Z",
};

test("every job type has a schema, and a valid payload reads back as written", () => {
  assert.deepEqual([...JOB_TYPES].sort(), [
    "beam-finish",
    "compose-session",
    "composite-progress",
    "hls-finish",
    "process-session",
    "rtmp-finish",
    "upload-track",
  ]);
  assert.deepEqual(readJobPayload("upload-track", JSON.stringify(track)), track);
  assert.deepEqual(readJobPayload("composite-progress", '{"recordingId":"r1","tick":3}'), { recordingId: "r1", tick: 3 });
  assert.deepEqual(readJobPayload("beam-finish", '{"recordingId":"r1"}'), { recordingId: "r1" });
});

test("a payload missing a field or holding a wrong value names the field", () => {
  const noId = () => readJobPayload("hls-finish", '{"recording":"r1"}');
  assert.throws(
    noId,
    (e: unknown) => e instanceof JobPayloadError && /hls-finish job's payload is not valid: recordingId:/.test(e.message),
  );
  const badKind = () => readJobPayload("upload-track", JSON.stringify({ ...track, trackType: "data" }));
  assert.throws(badKind, (e: unknown) => e instanceof JobPayloadError && /trackType:/.test(e.message));
  assert.throws(() => readJobPayload("composite-progress", '{"recordingId":"r1","tick":-1}'), /tick:/);
});

test("a payload that is not JSON, or not an object, is refused", () => {
  assert.throws(
    () => readJobPayload("process-session", "{not json"),
    (e: unknown) => e instanceof JobPayloadError && /process-session job's payload is not JSON/.test(e.message),
  );
  assert.throws(() => readJobPayload("process-session", "null"), /process-session job's payload is not valid: \(payload\)/);
});
