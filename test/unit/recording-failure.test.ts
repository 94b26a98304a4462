import assert from "node:assert/strict";
import { test } from "node:test";
import { MediaProcessError } from "../../src/media/process.ts";
import { CompositeInputError } from "../../src/recorders/sfu/composite.ts";
import { describeBrowserFailure, describeSfuFailure } from "../../src/recorders/core/recording-failure.ts";
import { UploadError } from "../../src/recorders/core/upload.ts";
import { mapS3Error } from "../../src/storage/destination-errors.ts";

// What a recorder reports for an error: by the error's class, with whose side failed.

const target = {
  type: "s3" as const,
  bucket: "rec",
  region: "us-east-1",
  endpoint: "https://s3.us-east-1.amazonaws.com",
  customEndpoint: false,
  accessKey: "AKIA",
};
const refused = mapS3Error({ name: "AccessDenied", Code: "AccessDenied", $metadata: { httpStatusCode: 403 } }, "PutObject", target, "k");
const upload = (cause: unknown) => new UploadError(`upload of s3://rec/k failed: ${(cause as Error).message}`, { cause });
const ffmpeg = new MediaProcessError("media_failed", "ffmpeg", 1, null, ["junk.ts: Invalid data found when processing input"]);

test("an upload the user's bucket refused is an upload error from the destination", () => {
  assert.deepEqual(describeBrowserFailure(upload(refused)), {
    type: "UPLOAD_ERROR",
    origin: "destination",
    message: upload(refused).message,
  });
  assert.deepEqual(describeSfuFailure(upload(refused)), {
    type: "CLOUD_ACCESS_ERROR",
    origin: "destination",
    message: upload(refused).message,
  });
  // A storage error that reaches the job unwrapped says the same.
  assert.deepEqual(describeBrowserFailure(refused), { type: "UPLOAD_ERROR", origin: "destination", message: refused.message });
});

test("an upload that failed on tapedeck's side (internal bucket, spool file) is an upload error, origin internal", () => {
  const f = describeBrowserFailure(upload(Object.assign(new Error("ENOENT: no such file"), { code: "ENOENT" })));
  assert.equal(f.type, "UPLOAD_ERROR");
  assert.equal(f.origin, "internal");
});

test("an ffmpeg failure is processing, never an upload error", () => {
  assert.deepEqual(describeBrowserFailure(ffmpeg), { type: "INTERNAL_ERROR", origin: "internal", message: ffmpeg.message });
  assert.deepEqual(describeSfuFailure(ffmpeg), { type: "PROCESSING_CMD_ERROR", origin: "internal", message: ffmpeg.message });
});

test("input that cannot make a composite is the client's", () => {
  const f = describeSfuFailure(new CompositeInputError("no peer has a recorded track"));
  assert.deepEqual(f, { type: "INPUT_ERROR", origin: "client", message: "no peer has a recorded track" });
});

test("anything else is internal, whatever its message says", () => {
  const err = new Error("upload of s3://rec/k failed: looks like an upload");
  assert.deepEqual(describeBrowserFailure(err), { type: "INTERNAL_ERROR", origin: "internal", message: err.message });
  assert.deepEqual(describeSfuFailure(err), { type: "API_ERROR", origin: "internal", message: err.message });
  assert.deepEqual(describeSfuFailure("a string"), { type: "API_ERROR", origin: "internal", message: "a string" });
});
