import assert from "node:assert/strict";
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { after, before, test } from "node:test";
import type { FastifyInstance } from "fastify";
import type { AppContext } from "../../src/app-context.ts";
import { buildServer } from "../../src/api/server.ts";
import { loadConfig } from "../../src/config/config.ts";
import { loadIdentity, type AppIdentity } from "../../src/config/identity.ts";
import { SecretBox } from "../../src/crypto/secret-box.ts";
import type { UploadConfig } from "../../src/domain/upload-config.ts";
import type { AppError } from "../../src/errors.ts";
import { createLogger } from "../../src/log.ts";
import { internalBucketRoutes } from "../../src/storage/internal-bucket.routes.ts";
import { StorageService } from "../../src/storage/storage.service.ts";
import { signKey } from "../../src/storage/url-signer.ts";

// The internal bucket on disk and its signed download links, served by a real Fastify server.

const PUBLIC_URL = "http://tapedeck.test:8080";
let dataDir: string;
let service: StorageService;
let app: FastifyInstance;
let base: string;
let identity: AppIdentity;

before(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-internal-"));
  const config = loadConfig({ TAPEDECK_DATA_DIR: dataDir }, { publicUrl: PUBLIC_URL });
  identity = loadIdentity(dataDir, {}).identity;
  const log = createLogger("silent");
  service = new StorageService({ config, identity, box: new SecretBox(identity.encryptionKey), log });
  const ctx = { config, identity, log, storage: service } as unknown as AppContext;
  app = await buildServer(ctx, { v2: [], public: [internalBucketRoutes] });
  await app.listen({ port: 0, host: "127.0.0.1" });
  base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});
after(async () => {
  await app.close();
  await service.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const bucketRoot = () => path.join(dataDir, "bucket");
/** The presigned link, sent to the test server instead of the public host. */
const local = (url: string): string => {
  assert.ok(url.startsWith(`${PUBLIC_URL}/internal-bucket/`), url);
  const u = new URL(url);
  return `${base}${u.pathname}${u.search}`;
};
async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
const listAll = (dir: string): string[] =>
  fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();

test("put, head, get and delete: strings, buffers and streams", async () => {
  const bucket = service.internal;
  assert.equal(bucket.kind, "internal");
  assert.equal(bucket.displayPath("c/chat/r/20240101/Rec-r-1.csv"), "tapedeck://internal/c/chat/r/20240101/Rec-r-1.csv");
  assert.deepEqual(await bucket.put("c/a.txt", "hello"), { size: 5 });
  assert.deepEqual(await bucket.put("c/b.bin", Buffer.from([1, 2, 3])), { size: 3 });
  const progress: number[] = [];
  const res = await bucket.put("c/deep/er/s.bin", Readable.from([Buffer.alloc(1000, 1), Buffer.alloc(24, 2)]), {
    onProgress: (n) => progress.push(n),
  });
  assert.deepEqual(res, { size: 1024 });
  assert.deepEqual(progress, [1000, 1024]);
  assert.equal(fs.readFileSync(path.join(bucketRoot(), "c/a.txt"), "utf8"), "hello");
  assert.deepEqual(await bucket.head("c/deep/er/s.bin"), { size: 1024 });
  assert.deepEqual([...(await readAll(await bucket.get("c/b.bin")))], [1, 2, 3]);
  assert.equal(await bucket.head("c/missing.txt"), null);
  assert.equal(await bucket.head("c/deep"), null, "a folder is not an object");
  await assert.rejects(
    bucket.get("c/missing.txt"),
    (e: AppError) => e.status === 404 && /retention may have removed it/.test(e.details[0]),
  );
  // Replacing an object swaps it whole.
  await bucket.put("c/a.txt", "second version");
  assert.equal((await readAll(await bucket.get("c/a.txt"))).toString(), "second version");
  await bucket.delete("c/deep/er/s.bin");
  assert.equal(await bucket.head("c/deep/er/s.bin"), null);
  assert.ok(!fs.existsSync(path.join(bucketRoot(), "c/deep")), "emptied folders are pruned");
  await bucket.delete("c/deep/er/s.bin");
  await bucket.delete("c/a.txt");
  await bucket.delete("c/b.bin");
  assert.deepEqual(listAll(bucketRoot()), []);
});

test("a failed or aborted write leaves neither the object nor a partial file", async () => {
  const bucket = service.internal;
  const failing = new Readable({
    read() {
      this.push(Buffer.alloc(4096, 7));
      this.destroy(new Error("encoder crashed"));
    },
  });
  await assert.rejects(
    bucket.put("w/broken.mp4", failing),
    (e: AppError) => e.status === 500 && /cannot write tapedeck:\/\/internal\/w\/broken\.mp4/.test(e.message),
  );
  const controller = new AbortController();
  const endless = new Readable({
    read() {
      this.push(Buffer.alloc(4096));
      controller.abort();
    },
  });
  await assert.rejects(bucket.put("w/aborted.mp4", endless, { signal: controller.signal }), (e: Error) => e.name === "AbortError");
  assert.deepEqual(
    listAll(bucketRoot()).filter((f) => f.startsWith("w/")),
    [],
  );
  // An existing object survives a failed replacement.
  await bucket.put("w/kept.mp4", "good");
  const failAgain = new Readable({
    read() {
      this.destroy(new Error("boom"));
    },
  });
  await assert.rejects(bucket.put("w/kept.mp4", failAgain));
  assert.equal(fs.readFileSync(path.join(bucketRoot(), "w/kept.mp4"), "utf8"), "good");
  assert.deepEqual(
    listAll(bucketRoot()).filter((f) => f.startsWith("w/")),
    ["w/kept.mp4"],
  );
  await bucket.delete("w/kept.mp4");
});

test("path traversal keys are refused and nothing is written outside the bucket", async () => {
  const bucket = service.internal;
  const outside = path.join(dataDir, "outside.txt");
  const before = listAll(dataDir);
  for (const key of [
    "../x",
    "../../x",
    "a/../../b",
    "a/../../../outside.txt",
    outside,
    "/etc/passwd",
    "a\\..\\..\\b",
    "a\0b",
    "",
    "a//b",
  ]) {
    await assert.rejects(
      bucket.put(key, "pwned"),
      (e: AppError) => e.status === 400 && e.reason === "invalid_param",
      `put ${JSON.stringify(key)}`,
    );
    await assert.rejects(bucket.get(key), (e: AppError) => e.status === 400, `get ${JSON.stringify(key)}`);
    await assert.rejects(bucket.head(key), (e: AppError) => e.status === 400, `head ${JSON.stringify(key)}`);
    await assert.rejects(bucket.delete(key), (e: AppError) => e.status === 400, `delete ${JSON.stringify(key)}`);
    await assert.rejects(bucket.presignGet(key, 60), (e: AppError) => e.status === 400, `presign ${JSON.stringify(key)}`);
  }
  assert.deepEqual(listAll(dataDir), before);
  assert.ok(!fs.existsSync(outside));
  // Over HTTP an encoded traversal is refused, even when correctly signed (say, by a bug elsewhere).
  const expires = Math.floor(Date.now() / 1000) + 60;
  for (const key of ["../identity.json", "a/../../identity.json"]) {
    const signature = signKey(identity.urlSigningKey, key, expires);
    const res = await fetch(`${base}/internal-bucket/${encodeURIComponent(key)}?expires=${expires}&signature=${signature}`);
    assert.equal(res.status, 400, key);
    assert.doesNotMatch(await res.text(), /urlSigningKey/);
  }
  const unsigned = await fetch(`${base}/internal-bucket/..%2F..%2Fidentity.json?expires=9999999999&signature=${"0".repeat(64)}`);
  assert.equal(unsigned.status, 403);
});

test("a signed link downloads the file with its type and length; HEAD gives the headers only", async () => {
  const bytes = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
  await service.internal.put("c/beam/r1/20240101/Rec-r1-1.mp4", bytes);
  const url = await service.internal.presignGet("c/beam/r1/20240101/Rec-r1-1.mp4", 3600);
  assert.match(url, /\?expires=\d+&signature=[0-9a-f]{64}$/);
  const res = await fetch(local(url));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "video/mp4");
  assert.equal(res.headers.get("content-length"), "5000");
  assert.equal(res.headers.get("accept-ranges"), "bytes");
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes));
  const head = await fetch(local(url), { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-length"), "5000");
  assert.equal((await head.arrayBuffer()).byteLength, 0);

  const ranged = await fetch(local(url), { headers: { range: "bytes=100-199" } });
  assert.equal(ranged.status, 206);
  assert.equal(ranged.headers.get("content-range"), "bytes 100-199/5000");
  assert.equal(ranged.headers.get("content-length"), "100");
  assert.ok(Buffer.from(await ranged.arrayBuffer()).equals(bytes.subarray(100, 200)));
  const tail = await fetch(local(url), { headers: { range: "bytes=-10" } });
  assert.equal(tail.status, 206);
  assert.ok(Buffer.from(await tail.arrayBuffer()).equals(bytes.subarray(4990)));
  const beyond = await fetch(local(url), { headers: { range: "bytes=6000-" } });
  assert.equal(beyond.status, 416);
  assert.equal(beyond.headers.get("content-range"), "bytes */5000");

  await service.internal.put("c/chat/r1/20240101/Rec-r1-1.csv", "a,b\n");
  const csv = await fetch(local(await service.internal.presignGet("c/chat/r1/20240101/Rec-r1-1.csv", 60)));
  assert.equal(csv.headers.get("content-type"), "text/csv; charset=utf-8");
  assert.equal(await csv.text(), "a,b\n");
});

test("expired, tampered, unsigned and missing links are refused with the reason", async () => {
  await service.internal.put("c/x/file.webm", "webm bytes");
  const expired = await service.internal.presignGet("c/x/file.webm", 60, Date.now() - 3_600_000);
  const r1 = await fetch(local(expired));
  assert.equal(r1.status, 403);
  const b1 = await r1.json();
  assert.equal(b1.code, 403);
  assert.equal(b1.message, "Download link has expired");
  assert.match(b1.details[0], /^the link expired at \d{4}-/);

  const good = await service.internal.presignGet("c/x/file.webm", 60);
  const flipped = good.replace(/signature=(.)/, (_, c: string) => `signature=${c === "a" ? "b" : "a"}`);
  const r2 = await fetch(local(flipped));
  assert.equal(r2.status, 403);
  assert.equal((await r2.json()).message, "Download link signature is not valid");
  const otherKey = good.replace("file.webm", "other.webm");
  assert.equal((await fetch(local(otherKey))).status, 403);
  const longer = good.replace(/expires=(\d+)/, (_, e: string) => `expires=${Number(e) + 3600}`);
  assert.equal((await fetch(local(longer))).status, 403);

  const unsigned = await fetch(`${base}/internal-bucket/c/x/file.webm`);
  assert.equal(unsigned.status, 403);
  assert.equal((await unsigned.json()).message, "Download link is not signed");

  await service.internal.delete("c/x/file.webm");
  const gone = await fetch(local(good));
  assert.equal(gone.status, 404);
  const b3 = await gone.json();
  assert.deepEqual(Object.keys(b3).slice(0, 3), ["code", "message", "details"]);
  assert.match(b3.details[0], /retention may have removed it/);
});

test("asset locations: 'internal' or the sealed destination, which opens again", async () => {
  const upload: UploadConfig = {
    type: "gs",
    location: "rec-bucket",
    prefix: "p",
    options: {},
    credentials: { key: "GOOG1EXAMPLE", secret: "gcs-hmac-secret-value" },
  };
  assert.equal(service.sealLocation(null), "internal");
  assert.equal(service.openLocation("internal"), service.internal);
  assert.equal(service.open(null), service.internal);
  const sealed = service.sealLocation(upload);
  assert.ok(SecretBox.isSealed(sealed));
  assert.ok(!sealed.includes("gcs-hmac-secret-value") && !sealed.includes("GOOG1EXAMPLE"));
  const opened = service.openLocation(sealed);
  assert.equal(opened.kind, "gs");
  assert.equal(opened.displayPath("p/beam/x.mp4"), "gs://rec-bucket/p/beam/x.mp4");
  assert.equal(service.open(upload), opened, "clients are cached per destination");
  assert.throws(
    () => service.openLocation("s3://bucket"),
    (e: AppError) => e.status === 500,
  );
  const otherBox = new SecretBox(Buffer.alloc(32, 9).toString("base64"));
  assert.throws(
    () => service.openLocation(otherBox.sealJson(upload)),
    (e: AppError) => /cannot be opened with this server's encryption key/.test(e.message),
  );
});
