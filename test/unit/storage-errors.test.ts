import assert from "node:assert/strict";
import { test } from "node:test";
import { AppError } from "../../src/errors.ts";
import { DestinationError, mapS3Error, permissionName, type DestinationTarget } from "../../src/storage/destination-errors.ts";
import { resolveS3Settings } from "../../src/storage/s3.storage.ts";
import { explainFailure, VALIDATED_MESSAGE } from "../../src/storage/validate.ts";

const aws: DestinationTarget = {
  type: "s3",
  bucket: "rec-bucket",
  region: "eu-west-1",
  endpoint: "https://s3.eu-west-1.amazonaws.com",
  customEndpoint: false,
  accessKey: "AKIAEXAMPLE",
};

// Shaped like the SDK's service exceptions: name, Code, message, $metadata.
const sdkError = (code: string, status: number, extra: Record<string, unknown> = {}) =>
  Object.assign(new Error((extra.message as string) ?? code), {
    name: code,
    Code: code,
    $fault: "client",
    $metadata: { httpStatusCode: status, requestId: "REQ1" },
    ...extra,
  });

test("NoSuchBucket names the bucket and the region", () => {
  const e = mapS3Error(sdkError("NoSuchBucket", 404), "PutObject", aws) as DestinationError;
  assert.ok(e instanceof DestinationError);
  assert.equal(e.failure, "no_bucket");
  assert.equal(e.reason, "destination_error");
  assert.equal(e.status, 424);
  assert.equal(e.origin, "destination");
  assert.equal(e.operation, "PutObject");
  assert.equal(e.providerCode, "NoSuchBucket");
  assert.match(e.message, /^bucket "rec-bucket" does not exist in region eu-west-1/);
  assert.ok(e.details.includes("request id: REQ1"));
  assert.deepEqual(e.toJSON().origin, "destination");
});

test("a custom endpoint is named instead of the region", () => {
  const e = mapS3Error(sdkError("NoSuchBucket", 404), "PutObject", { ...aws, endpoint: "http://minio:9000", customEndpoint: true });
  assert.match(e.message, /does not exist at http:\/\/minio:9000/);
});

test("wrong secret and unknown key both say the key or secret is wrong, each with its own reason", () => {
  const sig = mapS3Error(sdkError("SignatureDoesNotMatch", 403), "PutObject", aws) as DestinationError;
  assert.equal(sig.failure, "bad_secret");
  assert.match(sig.message, /^the access key or secret is wrong: the secret does not match access key "AKIAEXAMPLE"/);
  const unknown = mapS3Error(sdkError("InvalidAccessKeyId", 403), "PutObject", aws) as DestinationError;
  assert.equal(unknown.failure, "unknown_key");
  assert.match(unknown.message, /^the access key or secret is wrong: AWS S3 does not know access key "AKIAEXAMPLE"/);
});

test("AccessDenied names the operation and the permission in the provider's words", () => {
  const put = mapS3Error(sdkError("AccessDenied", 403), "PutObject", aws) as DestinationError;
  assert.equal(put.failure, "access_denied");
  assert.match(put.message, /may not upload to bucket "rec-bucket" \(AccessDenied on PutObject\); grant it s3:PutObject/);
  const gsGet = mapS3Error(sdkError("AccessDenied", 403), "GetObject", { ...aws, type: "gs" });
  assert.match(gsGet.message, /may not download from .*grant it storage\.objects\.get/);
  // HEAD answers have no body: the SDK names them after the status.
  const head = mapS3Error(
    Object.assign(new Error("UnknownError"), { name: "Forbidden", $metadata: { httpStatusCode: 403 } }),
    "HeadObject",
    aws,
  ) as DestinationError;
  assert.equal(head.failure, "access_denied");
  assert.equal(permissionName("oss", "DeleteObject"), "oss:DeleteObject");
});

test("a wrong region says which region the bucket is in", () => {
  const e = mapS3Error(sdkError("AuthorizationHeaderMalformed", 400, { Region: "ap-south-1" }), "PutObject", aws) as DestinationError;
  assert.equal(e.failure, "wrong_region");
  assert.match(e.message, /is not in region eu-west-1; it is in ap-south-1 .*set options\.region to "ap-south-1"/);
  const redirect = Object.assign(new Error("UnknownError"), { name: "MovedPermanently", $metadata: { httpStatusCode: 301 } });
  Object.defineProperty(redirect, "$response", { value: { headers: { "x-amz-bucket-region": "us-west-2" } } });
  const r = mapS3Error(redirect, "HeadObject", aws) as DestinationError;
  assert.equal(r.failure, "wrong_region");
  assert.match(r.message, /it is in us-west-2/);
});

test("network errors say the endpoint cannot be reached", () => {
  const e = mapS3Error(
    Object.assign(new Error("connect ECONNREFUSED 10.0.0.1:443"), { code: "ECONNREFUSED", $metadata: { attempts: 3 } }),
    "PutObject",
    aws,
  ) as DestinationError;
  assert.equal(e.failure, "unreachable");
  assert.match(e.message, /^cannot reach endpoint https:\/\/s3\.eu-west-1\.amazonaws\.com \(ECONNREFUSED\)/);
  const dns = mapS3Error(Object.assign(new Error("getaddrinfo ENOTFOUND x"), { code: "ENOTFOUND" }), "GetObject", aws) as DestinationError;
  assert.equal(dns.failure, "unreachable");
});

test("a missing object is a 404, an abort passes through, anything else is a readable refusal", () => {
  const missing = mapS3Error(sdkError("NoSuchKey", 404), "GetObject", aws, "p/a.mp4") as DestinationError;
  assert.equal(missing.status, 404);
  assert.equal(missing.reason, "not_found");
  assert.match(missing.message, /object "p\/a\.mp4" does not exist/);
  const abort = Object.assign(new Error("Upload aborted."), { name: "AbortError" });
  assert.equal(mapS3Error(abort, "PutObject", aws), abort);
  const other = mapS3Error(
    sdkError("InvalidBucketName", 400, { message: "The specified bucket is not valid." }),
    "PutObject",
    aws,
  ) as DestinationError;
  assert.equal(other.failure, "rejected");
  assert.equal(
    other.message,
    'AWS S3 refused PutObject on bucket "rec-bucket" (InvalidBucketName, HTTP 400): The specified bucket is not valid.',
  );
});

test("validation explains each failure for the step it happened in", () => {
  const denied = (op: "PutObject" | "GetObject" | "DeleteObject") => mapS3Error(sdkError("AccessDenied", 403), op, aws);
  assert.equal(
    explainFailure("download", denied("GetObject"), "s3"),
    "The key can upload but not download (AccessDenied on GetObject). SFU recording needs download permission too (s3:GetObject); browser recording only needs upload.",
  );
  assert.match(
    explainFailure("upload", denied("PutObject"), "s3"),
    /^The key cannot upload \(AccessDenied on PutObject\)\. Both browser and SFU recording need upload permission/,
  );
  assert.match(explainFailure("delete", denied("DeleteObject"), "gs"), /not delete .*Recording does not need delete permission/);
  assert.match(
    explainFailure("upload", mapS3Error(sdkError("SignatureDoesNotMatch", 403), "PutObject", aws), "s3"),
    /^The access key or secret is wrong: the secret does not match .* Check the secret/,
  );
  assert.match(explainFailure("upload", new Error("boom"), "s3"), /^The upload step failed: Unexpected error: boom\.$/);
  assert.equal(VALIDATED_MESSAGE, "Recording upload config validated successfully");
});

test("endpoints, regions and addressing per destination type", () => {
  assert.deepEqual(resolveS3Settings({ type: "s3", options: {} }), {
    endpoint: undefined,
    displayEndpoint: "https://s3.us-east-1.amazonaws.com",
    region: "us-east-1",
    forcePathStyle: false,
  });
  assert.deepEqual(resolveS3Settings({ type: "s3", options: { region: "ap-south-1" } }).region, "ap-south-1");
  assert.deepEqual(resolveS3Settings({ type: "s3", options: { endpoint: "http://minio:9000" } }), {
    endpoint: "http://minio:9000",
    displayEndpoint: "http://minio:9000",
    region: "us-east-1",
    forcePathStyle: true,
  });
  assert.equal(
    resolveS3Settings({ type: "s3", options: { endpoint: "https://r2.example", force_path_style: false } }).forcePathStyle,
    false,
  );
  assert.deepEqual(resolveS3Settings({ type: "gs", options: {} }), {
    endpoint: "https://storage.googleapis.com",
    displayEndpoint: "https://storage.googleapis.com",
    region: "auto",
    forcePathStyle: true,
  });
  assert.deepEqual(resolveS3Settings({ type: "oss", options: { region: "oss-cn-hangzhou" } }), {
    endpoint: "https://oss-cn-hangzhou.aliyuncs.com",
    displayEndpoint: "https://oss-cn-hangzhou.aliyuncs.com",
    region: "cn-hangzhou",
    forcePathStyle: false,
  });
  assert.equal(
    resolveS3Settings({ type: "oss", options: { endpoint: "https://oss-eu-central-1-internal.aliyuncs.com" } }).region,
    "eu-central-1",
  );
  assert.throws(
    () => resolveS3Settings({ type: "oss", options: {} }),
    (e: unknown) => e instanceof AppError && e.status === 400 && /options\.region is required for oss/.test(e.message),
  );
});
