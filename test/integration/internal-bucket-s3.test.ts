import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import { loadConfig } from "../../src/config/config.ts";
import { loadIdentity } from "../../src/config/identity.ts";
import { SecretBox } from "../../src/crypto/secret-box.ts";
import { createLogger } from "../../src/log.ts";
import type { AppIdentity } from "../../src/config/identity.ts";
import { type UploadError, uploadRecording } from "../../src/recorders/core/upload.ts";
import { S3Sweeper, type SweptBucket } from "../../src/storage/s3-sweeper.ts";
import { S3Storage } from "../../src/storage/s3.storage.ts";
import { checkInternalBucket, StorageService } from "../../src/storage/storage.service.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { s3ErrorXml, startS3rver, type TestS3 } from "../support/s3rver.ts";

// The internal bucket on an S3-protocol store (TAPEDECK_BUCKET), against s3rver: recordings land under
// the prefix with the keys the local bucket uses, their links are the store's own presigned URLs,
// retention lists and deletes by LastModified, a gate lets one node of a cluster do the sweeping, and a
// bucket that cannot be used stops the boot naming the setting.

const DAY = 86_400_000;
let s3: TestS3;
const dirs: string[] = [];

before(async () => {
  s3 = await startS3rver();
});
after(async () => {
  await s3.stop();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const tempDir = (name: string): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `tapedeck-${name}-`));
  dirs.push(d);
  return d;
};

const bucketEnv = (prefix: string, over: Record<string, string> = {}): Record<string, string> => ({
  TAPEDECK_BUCKET: `s3://${s3.bucket}${prefix ? `/${prefix}` : ""}`,
  TAPEDECK_BUCKET_ENDPOINT: s3.endpoint,
  TAPEDECK_BUCKET_ACCESS_KEY: s3.accessKey,
  TAPEDECK_BUCKET_SECRET_KEY: s3.secret,
  ...over,
});

/** A StorageService on its own (not started), as main.ts makes it. */
function service(env: Record<string, string>, log = createLogger("silent")): StorageService {
  const dataDir = tempDir("bucket-s3");
  const config = loadConfig({ TAPEDECK_DATA_DIR: dataDir, TAPEDECK_RETENTION_DAYS: "15", ...env });
  const { identity } = loadIdentity(dataDir, {});
  return new StorageService({ config, identity, box: new SecretBox(identity.encryptionKey), log });
}

/** Sets an object's LastModified `days` back: s3rver reports the mtime of the file it keeps it in. */
function age(key: string, days: number): void {
  const t = new Date(Date.now() - days * DAY);
  fs.utimesSync(path.join(s3.directory, s3.bucket, `${key}._S3rver_object`), t, t);
}

/** pino lines as objects, and a wait for the first line with a given message. */
function logLines(level: "debug" | "info") {
  const stream = new PassThrough();
  const entries: Array<Record<string, unknown>> = [];
  const waiters: Array<{ msg: string; resolve: (e: Record<string, unknown>) => void }> = [];
  let buffered = "";
  stream.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    for (const line of buffered.split("\n").slice(0, -1)) {
      const entry = JSON.parse(line) as Record<string, unknown>;
      entries.push(entry);
      for (const w of waiters.filter((w) => w.msg === entry.msg)) w.resolve(entry);
    }
    buffered = buffered.slice(buffered.lastIndexOf("\n") + 1);
  });
  return {
    log: pino({ level }, stream),
    entries,
    next: (msg: string) => new Promise<Record<string, unknown>>((resolve) => waiters.push({ msg, resolve })),
  };
}

describe("a tapedeck with TAPEDECK_BUCKET", () => {
  let app: TestApp;
  let cid: string;

  before(async () => {
    // Loopback refused to users' destinations: the operator's own bucket must still be reachable.
    app = await startTestApp({ env: { ...bucketEnv("some/prefix"), TAPEDECK_OUTBOUND_DENY: "127.0.0.0/8" } });
    cid = app.ctx.identity.customerId;
  });
  after(async () => {
    await app.close();
  });

  test("a recording uploaded to the internal bucket lands under the prefix, downloads from its presigned URL and opens as 'internal'", async () => {
    const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 251));
    const file = path.join(tempDir("spool"), "Rec.mp4");
    fs.writeFileSync(file, bytes);
    const relative = "beam/room1/20261207/Rec-room1-1765100000000.mp4";

    const up = await uploadRecording(app.ctx, null, relative, file, "video/mp4");

    // The key is the one the local bucket uses; the prefix is the store's business.
    assert.equal(up.key, `${cid}/${relative}`);
    assert.equal(up.location, "internal");
    assert.equal(up.size, bytes.length);
    assert.equal(up.path, `s3://${s3.bucket}/some/prefix/${cid}/${relative}`);
    assert.deepEqual(await s3.keys("some/prefix/"), [`some/prefix/${cid}/${relative}`]);

    assert.ok(up.url.startsWith(`${s3.endpoint}/${s3.bucket}/some/prefix/${cid}/`), up.url);
    const res = await fetch(up.url);
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), bytes);

    const stored = app.ctx.storage.openLocation("internal");
    assert.equal(stored.kind, "internal");
    assert.deepEqual(await stored.head(up.key), { size: bytes.length });
    const chunks: Buffer[] = [];
    for await (const c of await stored.get(up.key)) chunks.push(c as Buffer);
    assert.deepEqual(Buffer.concat(chunks), bytes);

    // A download name rides in the store's own presigned URL.
    const named = await fetch(await stored.presignGet(up.key, 60, { downloadName: "Standup 2026-12-07.mp4" }));
    assert.equal(named.status, 200);
    assert.match(named.headers.get("content-disposition") ?? "", /attachment; filename="Standup 2026-12-07\.mp4"/);
  });

  test("a missing object is a 404 that mentions retention; an unsafe key is refused before any request", async () => {
    const stored = app.ctx.storage.internal;
    assert.equal(await stored.head(`${cid}/chat/nope.csv`), null);
    await assert.rejects(stored.get(`${cid}/chat/nope.csv`), (e: { status: number; message: string; details: string[] }) => {
      assert.equal(e.status, 404);
      assert.equal(e.message, `object s3://${s3.bucket}/some/prefix/${cid}/chat/nope.csv does not exist`);
      assert.match(e.details.join(" "), /retention/);
      return true;
    });
    const before = s3.requests.length;
    await assert.rejects(stored.put("../escape.txt", "x"), { status: 400 });
    assert.equal(s3.requests.length, before);
  });

  test("/internal-bucket/ links are not served: the links point at the store", async () => {
    const res = await app.fetch(`/internal-bucket/${cid}/x.mp4?expires=9999999999&signature=${"0".repeat(64)}`);
    assert.equal(res.status, 404);
    const body = JSON.parse(await res.text()) as { details: string[] };
    assert.match(body.details.join(" "), /TAPEDECK_BUCKET/);
  });

  test("the boot check passes on a working bucket and leaves nothing behind", async () => {
    const keysBefore = await s3.keys("some/prefix/");
    await checkInternalBucket(app.ctx.storage, createLogger("silent"));
    assert.deepEqual(await s3.keys("some/prefix/"), keysBefore);
  });
});

describe("retention on an S3 internal bucket", () => {
  test("a pass deletes objects past retention under the prefix, keeps newer ones and everything outside the prefix", async () => {
    const other = new S3Storage({
      type: "s3",
      location: s3.bucket,
      prefix: "",
      options: { endpoint: s3.endpoint },
      credentials: { key: s3.accessKey, secret: s3.secret },
    });
    const lines = logLines("info");
    const storage = service(bucketEnv("sweep/one"), lines.log);
    try {
      await storage.internal.put("c/beam/r/20240101/old.mp4", Buffer.alloc(1000));
      await storage.internal.put("c/chat/r/20240101/old.csv", "x".repeat(15));
      await storage.internal.put("c/beam/r/20240301/new.mp4", Buffer.alloc(7));
      await other.put("sweep/outside.mp4", "not tapedeck's");
      await other.put("sweep/one-sibling/old.mp4", "a neighbouring prefix");
      age("sweep/one/c/beam/r/20240101/old.mp4", 16);
      age("sweep/one/c/chat/r/20240101/old.csv", 30);
      age("sweep/one/c/beam/r/20240301/new.mp4", 14.9);
      age("sweep/outside.mp4", 400);
      age("sweep/one-sibling/old.mp4", 400);

      const swept = lines.next("internal bucket swept");
      const result = await storage.sweepOnce();
      assert.deepEqual(result, { deletedFiles: 2, deletedBytes: 1015, deletedFolders: 0, keptFiles: 1, errors: 0 });
      assert.deepEqual(await s3.keys("sweep/"), ["sweep/one-sibling/old.mp4", "sweep/one/c/beam/r/20240301/new.mp4", "sweep/outside.mp4"]);
      const entry = await swept;
      assert.equal(entry.root, `s3://${s3.bucket}/sweep/one/`);
      assert.equal(entry.component, "storage-sweeper");
      assert.equal(entry.deletedFiles, 2);

      // `now` moves the clock: two days later the 14.9-day-old object is past retention too.
      const later = await storage.sweepOnce(Date.now() + 2 * DAY);
      assert.deepEqual(later, { deletedFiles: 1, deletedBytes: 7, deletedFolders: 0, keptFiles: 0, errors: 0 });
      assert.deepEqual(await s3.keys("sweep/"), ["sweep/one-sibling/old.mp4", "sweep/outside.mp4"]);
    } finally {
      await storage.stop();
      other.destroy();
    }
  });

  // s3rver 3.7.1 cannot answer a truncated ListObjectsV2 on Node 20 (it makes continuation tokens with
  // DES, which OpenSSL 3 no longer has), so paging is checked on a bucket kept in memory.
  test("the listing is paged: each page's old objects go in one delete, refusals are counted, undated objects kept", async () => {
    const now = Date.now();
    const objects = new Map<string, { size: number; lastModified: Date | undefined }>([
      ["p/a", { size: 1, lastModified: new Date(now - 20 * DAY) }],
      ["p/b", { size: 2, lastModified: new Date(now - 20 * DAY) }],
      ["p/c", { size: 4, lastModified: new Date(now - 1 * DAY) }],
      ["p/d", { size: 8, lastModified: undefined }],
      ["p/e", { size: 16, lastModified: new Date(now - 30 * DAY) }],
      ["p/locked", { size: 32, lastModified: new Date(now - 30 * DAY) }],
      ["q/outside", { size: 64, lastModified: new Date(now - 30 * DAY) }],
    ]);
    const calls: string[] = [];
    const bucket: SweptBucket = {
      displayPath: (key) => `s3://mem/${key}`,
      async listPage(prefix, token, maxKeys = 1000) {
        calls.push(`list after ${token ?? "-"}`);
        const keys = [...objects.keys()].filter((k) => k.startsWith(prefix) && (!token || k > token)).sort();
        const page = keys.slice(0, maxKeys);
        return {
          objects: page.map((key) => ({ key, ...objects.get(key)! })),
          next: keys.length > maxKeys ? page[page.length - 1] : undefined,
        };
      },
      async deleteMany(keys) {
        calls.push(`delete ${keys.join(",")}`);
        const refused = keys.filter((k) => k.endsWith("locked"));
        for (const k of keys) if (!refused.includes(k)) objects.delete(k);
        return {
          deleted: keys.filter((k) => !refused.includes(k)),
          failed: refused.map((key) => ({ key, code: "AccessDenied", message: "Access Denied" })),
        };
      },
    };
    const sweeper = new S3Sweeper({
      storage: bucket,
      prefix: "p/",
      pageSize: 2,
      retentionMs: 15 * DAY,
      intervalMs: 3_600_000,
      log: createLogger("silent"),
    });
    const result = await sweeper.sweepOnce(now);
    assert.deepEqual(result, { deletedFiles: 3, deletedBytes: 19, deletedFolders: 0, keptFiles: 2, errors: 1 });
    assert.deepEqual(calls, ["list after -", "delete p/a,p/b", "list after p/b", "list after p/d", "delete p/e,p/locked"]);
    assert.deepEqual([...objects.keys()].sort(), ["p/c", "p/d", "p/locked", "q/outside"]);
  });

  test("a store without DeleteObjects (NotImplemented) gets one DELETE per key, from then on", async () => {
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(`${req.method} ${(req.url ?? "").split("?")[0]}`);
      req.resume();
      req.on("end", () => {
        if (req.method === "POST") {
          res.writeHead(501, { "content-type": "application/xml" });
          res.end(s3ErrorXml("NotImplemented", "A header you provided implies functionality that is not implemented"));
        } else {
          res.writeHead(204);
          res.end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as net.AddressInfo;
    const store = new S3Storage(
      {
        type: "s3",
        location: "bkt",
        prefix: "",
        options: { endpoint: `http://127.0.0.1:${port}` },
        credentials: { key: "k", secret: "s" },
      },
      undefined,
      null,
    );
    try {
      assert.deepEqual(await store.deleteMany(["p/a", "p/b"]), { deleted: ["p/a", "p/b"], failed: [] });
      assert.deepEqual(await store.deleteMany(["p/c"]), { deleted: ["p/c"], failed: [] });
      // The deletes of one batch run side by side: their order is not fixed.
      assert.deepEqual(
        [seen[0], ...seen.slice(1, 3).sort(), seen[3]],
        ["POST /bkt/", "DELETE /bkt/p/a", "DELETE /bkt/p/b", "DELETE /bkt/p/c"],
      );
      assert.equal(seen.length, 4);
    } finally {
      store.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test("the gate given to start() skips timed passes while it says no; sweepOnce is not gated", async () => {
    const lines = logLines("debug");
    const storage = service(bucketEnv("sweep/gated"), lines.log);
    let allowed = false;
    let asked = 0;
    try {
      await storage.internal.put("c/old.webm", "old");
      age("sweep/gated/c/old.webm", 20);

      const skipped = lines.next("internal bucket sweep skipped: another node sweeps");
      storage.start({
        shouldSweep: async () => {
          asked++;
          return allowed;
        },
      });
      await skipped;
      assert.equal(asked, 1);
      assert.equal(await storage.scheduledSweep(), null);
      assert.equal(asked, 2);
      assert.deepEqual(await s3.keys("sweep/gated/"), ["sweep/gated/c/old.webm"]);
      assert.equal(lines.entries.filter((e) => e.msg === "internal bucket swept").length, 0);

      allowed = true;
      const result = await storage.scheduledSweep();
      assert.equal(result?.deletedFiles, 1);
      assert.deepEqual(await s3.keys("sweep/gated/"), []);

      // An explicit pass (operators, tests) runs whatever the gate says.
      allowed = false;
      await storage.internal.put("c/again.webm", "again");
      assert.equal((await storage.sweepOnce(Date.now() + 30 * DAY)).deletedFiles, 1);
    } finally {
      await storage.stop();
    }
  });

  test("the gate works the same on the local internal bucket", async () => {
    const lines = logLines("debug");
    const storage = service({}, lines.log);
    try {
      assert.ok(storage.local, "no TAPEDECK_BUCKET: the bucket is on disk");
      await storage.internal.put("c/old.webm", "old");
      const t = new Date(Date.now() - 20 * DAY);
      fs.utimesSync(storage.local.resolve("c/old.webm"), t, t);
      const skipped = lines.next("internal bucket sweep skipped: another node sweeps");
      storage.start({ shouldSweep: async () => false });
      await skipped;
      assert.equal(await storage.scheduledSweep(), null);
      assert.deepEqual(await storage.internal.head("c/old.webm"), { size: 3 });
    } finally {
      await storage.stop();
    }
  });
});

describe("the boot check of TAPEDECK_BUCKET", () => {
  test("a wrong secret stops the boot naming TAPEDECK_BUCKET, the endpoint and the keys to check", async () => {
    const storage = service(bucketEnv("some/prefix", { TAPEDECK_BUCKET_SECRET_KEY: "not-the-secret" }));
    try {
      await assert.rejects(checkInternalBucket(storage, createLogger("silent")), (e: Error) => {
        assert.match(e.message, new RegExp(`TAPEDECK_BUCKET=s3://${s3.bucket}/some/prefix at ${s3.endpoint} cannot be used`));
        assert.match(e.message, /SignatureDoesNotMatch/);
        assert.match(e.message, /check TAPEDECK_BUCKET_ACCESS_KEY and TAPEDECK_BUCKET_SECRET_KEY/);
        assert.doesNotMatch(e.message, /not-the-secret/);
        return true;
      });
    } finally {
      await storage.stop();
    }
  });

  test("a recording the internal bucket refuses fails as tapedeck's side (origin internal), naming TAPEDECK_BUCKET", async () => {
    const storage = service(bucketEnv("some/prefix", { TAPEDECK_BUCKET_SECRET_KEY: "not-the-secret" }));
    const file = path.join(tempDir("spool"), "chat.csv");
    fs.writeFileSync(file, "a,b\n");
    try {
      const identity = { customerId: "cust1" } as AppIdentity;
      await assert.rejects(
        uploadRecording({ storage, identity }, null, "chat/r/20261207/Rec-r-1.csv", file, "text/csv"),
        (e: UploadError) => {
          assert.equal(e.name, "UploadError");
          assert.equal(e.origin, "internal");
          assert.match(e.message, /internal bucket TAPEDECK_BUCKET=s3:\/\/tapedeck-test\/some\/prefix: the access key or secret is wrong/);
          return true;
        },
      );
    } finally {
      await storage.stop();
    }
  });

  test("a bucket that does not exist, and an endpoint nothing listens on, are named too", async () => {
    const missing = service({ ...bucketEnv(""), TAPEDECK_BUCKET: "s3://no-such-bucket/p" });
    const closedPort = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, "127.0.0.1", () => {
        const { port } = srv.address() as net.AddressInfo;
        srv.close(() => resolve(port));
      });
    });
    const unreachable = service(bucketEnv("p", { TAPEDECK_BUCKET_ENDPOINT: `http://127.0.0.1:${closedPort}` }));
    try {
      await assert.rejects(checkInternalBucket(missing, createLogger("silent")), (e: Error) => {
        assert.match(e.message, /TAPEDECK_BUCKET=s3:\/\/no-such-bucket\/p/);
        assert.match(e.message, /NoSuchBucket.*check the bucket name in TAPEDECK_BUCKET/);
        return true;
      });
      await assert.rejects(checkInternalBucket(unreachable, createLogger("silent")), (e: Error) => {
        assert.match(e.message, new RegExp(`at http://127.0.0.1:${closedPort} cannot be used \\(upload failed\\)`));
        assert.match(e.message, /check TAPEDECK_BUCKET_ENDPOINT/);
        return true;
      });
    } finally {
      await missing.stop();
      await unreachable.stop();
    }
  });

  test("an OSS bucket without a region is refused before anything is sent, naming TAPEDECK_BUCKET_REGION", () => {
    assert.throws(() => service({ TAPEDECK_BUCKET: "oss://rec-bucket/p" }), {
      message: /^TAPEDECK_BUCKET=oss:\/\/rec-bucket\/p: set TAPEDECK_BUCKET_REGION/,
    });
  });

  test("with the bucket on disk there is nothing to check", async () => {
    const storage = service({});
    try {
      await checkInternalBucket(storage, createLogger("silent"));
    } finally {
      await storage.stop();
    }
  });
});
