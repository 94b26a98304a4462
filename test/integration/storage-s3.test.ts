import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { after, before, test } from "node:test";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { beamPath, objectKey } from "../../src/domain/storage-paths.ts";
import type { UploadConfig } from "../../src/domain/upload-config.ts";
import type { AppError } from "../../src/errors.ts";
import type { DestinationError } from "../../src/storage/destination-errors.ts";
import { S3Storage } from "../../src/storage/s3.storage.ts";
import { startS3rver, type TestS3 } from "../support/s3rver.ts";

// S3Storage against a real S3-protocol server (s3rver, with V4 signatures checked).

let s3: TestS3;
let storage: S3Storage;
const upload = (over: Partial<UploadConfig> = {}): UploadConfig => ({
  type: "s3",
  location: s3.bucket,
  prefix: "",
  options: { endpoint: s3.endpoint },
  credentials: { key: s3.accessKey, secret: s3.secret },
  ...over,
});

before(async () => {
  s3 = await startS3rver();
  storage = new S3Storage(upload());
});
after(async () => {
  storage.destroy();
  await s3.stop();
});

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test("put, head, get and delete a small object under the prefix", async () => {
  const key = objectKey(
    "tenant-a/recordings",
    "cust1",
    beamPath({ roomId: "room1", sessionStartedAt: "2024-03-05T10:00:00Z", epoch: 1709632800000 }),
  );
  assert.equal(key, "tenant-a/recordings/beam/room1/20240305/Rec-room1-1709632800000.mp4");
  const res = await storage.put(key, Buffer.from("hello world"), { contentType: "video/mp4" });
  assert.equal(res.size, 11);
  assert.equal(storage.displayPath(key), `s3://${s3.bucket}/tenant-a/recordings/beam/room1/20240305/Rec-room1-1709632800000.mp4`);
  // The object sits under the prefix in the bucket.
  const listed = await storage.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: "tenant-a/recordings/" }));
  assert.deepEqual(
    listed.Contents?.map((o) => o.Key),
    [key],
  );
  assert.deepEqual(await storage.head(key), { size: 11 });
  assert.equal((await readAll(await storage.get(key))).toString(), "hello world");
  await storage.delete(key);
  assert.equal(await storage.head(key), null);
  await storage.delete(key); // deleting a missing object is fine
  await assert.rejects(
    storage.get(key),
    (e: DestinationError) => e.status === 404 && e.reason === "not_found" && e.failure === "no_such_key",
  );
});

test("a 50 MB stream goes up in 8 MiB parts and reads back identical", async () => {
  const total = 50 * 1024 * 1024;
  const sent = createHash("sha256");
  let produced = 0;
  async function* generate() {
    while (produced < total) {
      const chunk = randomBytes(Math.min(1024 * 1024, total - produced));
      produced += chunk.length;
      sent.update(chunk);
      yield chunk;
    }
  }
  const key = "big/Rec-big.mp4";
  const before = s3.requests.length;
  const progress: number[] = [];
  const res = await storage.put(key, Readable.from(generate()), { contentType: "video/mp4", onProgress: (b) => progress.push(b) });
  assert.equal(res.size, total);
  const requests = s3.requests.slice(before).filter((r) => r.path === `/${s3.bucket}/${key}`);
  // CreateMultipartUpload (POST), 7 UploadPart (PUT: 6 × 8 MiB + 2 MiB), CompleteMultipartUpload (POST).
  assert.equal(requests.filter((r) => r.method === "PUT").length, 7);
  assert.equal(requests.filter((r) => r.method === "POST").length, 2);
  assert.equal(progress.at(-1), total);
  assert.deepEqual(await storage.head(key), { size: total });
  const got = createHash("sha256");
  let size = 0;
  for await (const c of await storage.get(key)) {
    size += (c as Buffer).length;
    got.update(c as Buffer);
  }
  assert.equal(size, total);
  assert.equal(got.digest("hex"), sent.digest("hex"));
  await storage.delete(key);
});

test("a presigned URL downloads the bytes with plain fetch, and a changed URL is refused", async () => {
  const key = "presign/chat.csv";
  const body = "SenderPeerID,SenderName,SenderUserID,Roles,SentAt,Type,Message\n";
  await storage.put(key, body, { contentType: "text/csv" });
  const url = await storage.presignGet(key, 600);
  assert.ok(url.startsWith(`${s3.endpoint}/${s3.bucket}/presign/chat.csv?`), url);
  assert.match(url, /X-Amz-Expires=600/);
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), body);
  // The server checks the signature: a changed URL is refused.
  const tampered = url.replace("chat.csv", "other.csv");
  assert.equal((await fetch(tampered)).status, 403);
});

test("abort stops an upload and leaves no object", async () => {
  const key = "aborted/Rec.mp4";
  const controller = new AbortController();
  let sent = 0;
  async function* slow() {
    for (let i = 0; i < 100; i++) {
      sent++;
      if (i === 2) controller.abort();
      yield Buffer.alloc(1024 * 1024, i);
    }
  }
  await assert.rejects(storage.put(key, Readable.from(slow()), { signal: controller.signal }), (e: Error) => e.name === "AbortError");
  assert.ok(sent < 100);
  assert.equal(await storage.head(key), null);
});

test("a failing source stream is our error, not the destination's, and leaves no object", async () => {
  let pushed = 0;
  const failing = new Readable({
    read() {
      if (pushed++ < 3) this.push(Buffer.alloc(4 * 1024 * 1024, 1));
      else this.destroy(new Error("encoder crashed"));
    },
  });
  await assert.rejects(storage.put("failing/Rec.mp4", failing), (e: AppError) => {
    assert.equal(e.origin, "internal");
    assert.equal(e.status, 500);
    assert.match(e.message, /^upload of s3:\/\/.*failing\/Rec\.mp4 failed: the source stream failed$/);
    assert.deepEqual(e.details, ["encoder crashed"]);
    return true;
  });
  assert.equal(await storage.head("failing/Rec.mp4"), null);
});

test("failures become destination errors that name the problem and never the secret", async () => {
  const wrongSecret = "definitely-Not-The-Secret-123";
  const bad = new S3Storage(upload({ credentials: { key: s3.accessKey, secret: wrongSecret } }));
  try {
    await assert.rejects(bad.put("x/y.txt", "data"), (e: DestinationError) => {
      assert.equal(e.failure, "bad_secret");
      assert.equal(e.status, 424);
      assert.equal(e.origin, "destination");
      assert.match(e.message, /the access key or secret is wrong/);
      assert.ok(!JSON.stringify(e.toJSON()).includes(wrongSecret));
      return true;
    });
  } finally {
    bad.destroy();
  }
  const noBucket = new S3Storage(upload({ location: "no-such-bucket" }));
  try {
    await assert.rejects(
      noBucket.put("x/y.txt", "data"),
      (e: DestinationError) =>
        e.failure === "no_bucket" && /bucket "no-such-bucket" does not exist at http:\/\/127\.0\.0\.1:\d+/.test(e.message),
    );
  } finally {
    noBucket.destroy();
  }
});
