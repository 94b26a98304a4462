import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { after, before, test } from "node:test";
import { pino } from "pino";
import { loadConfig } from "../../src/config/config.ts";
import { loadIdentity } from "../../src/config/identity.ts";
import { SecretBox } from "../../src/crypto/secret-box.ts";
import { createLogger } from "../../src/log.ts";
import { StorageService } from "../../src/storage/storage.service.ts";

// Retention of the internal bucket: old files and the folders they leave empty go; new ones stay.

const DAY = 86_400_000;
let dataDir: string;
let service: StorageService;

before(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-sweep-"));
  const config = loadConfig({ TAPEDECK_DATA_DIR: dataDir, TAPEDECK_RETENTION_DAYS: "15", TAPEDECK_SWEEP_INTERVAL_SECONDS: "3600" });
  const { identity } = loadIdentity(dataDir, {});
  service = new StorageService({ config, identity, box: new SecretBox(identity.encryptionKey), log: createLogger("silent") });
});
after(async () => {
  await service.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const root = () => path.join(dataDir, "bucket");
function age(key: string, days: number, now = Date.now()): void {
  const t = new Date(now - days * DAY);
  fs.utimesSync(path.join(root(), key), t, t);
}
const exists = (rel: string) => fs.existsSync(path.join(root(), rel));

test("one pass deletes files past retention and the folders left empty, and keeps the rest", async () => {
  const bucket = service.internal;
  await bucket.put("c/beam/old-room/20240101/Rec-old-1.mp4", Buffer.alloc(1000));
  await bucket.put("c/chat/old-room/20240101/Rec-old-1.csv", "x".repeat(10));
  await bucket.put("c/beam/mixed/20240101/old.mp4", Buffer.alloc(5));
  await bucket.put("c/beam/mixed/20240101/new.mp4", Buffer.alloc(7));
  await bucket.put("c/beam/new-room/20240301/Rec-new-1.mp4", Buffer.alloc(3));
  age("c/beam/old-room/20240101/Rec-old-1.mp4", 16);
  age("c/chat/old-room/20240101/Rec-old-1.csv", 30);
  age("c/beam/mixed/20240101/old.mp4", 15.01);
  age("c/beam/mixed/20240101/new.mp4", 14.99);
  fs.mkdirSync(path.join(root(), "c/empty/leftover"), { recursive: true });

  const result = await service.sweepOnce();
  // Folders: old-room/20240101 and old-room, chat/old-room/20240101, chat/old-room and chat, empty/leftover and empty.
  assert.deepEqual(result, { deletedFiles: 3, deletedBytes: 1015, deletedFolders: 7, keptFiles: 2, errors: 0 });
  assert.ok(!exists("c/beam/old-room"));
  assert.ok(!exists("c/chat"));
  assert.ok(!exists("c/empty"));
  assert.ok(!exists("c/beam/mixed/20240101/old.mp4"));
  assert.ok(exists("c/beam/mixed/20240101/new.mp4"));
  assert.ok(exists("c/beam/new-room/20240301/Rec-new-1.mp4"));
  assert.ok(fs.existsSync(root()), "the bucket root stays");

  // `now` moves the clock: a day later the 14.99-day-old file is past retention too.
  const dayLater = await service.sweepOnce(Date.now() + DAY);
  assert.equal(dayLater.deletedFiles, 1);
  assert.ok(!exists("c/beam/mixed"));
  assert.ok(exists("c/beam/new-room/20240301/Rec-new-1.mp4"));
  const muchLater = await service.sweepOnce(Date.now() + 16 * DAY);
  assert.equal(muchLater.deletedFiles, 1);
  assert.deepEqual(fs.readdirSync(root()), []);
});

test("start() sweeps once straight away and logs the counts; stop() waits for a running pass", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-sweep-start-"));
  const lines = new PassThrough();
  const swept = new Promise<Record<string, unknown>>((resolve) => {
    let buffered = "";
    lines.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      for (const line of buffered.split("\n").slice(0, -1)) {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.msg === "internal bucket swept") resolve(entry);
      }
      buffered = buffered.slice(buffered.lastIndexOf("\n") + 1);
    });
  });
  const config = loadConfig({ TAPEDECK_DATA_DIR: dir, TAPEDECK_RETENTION_DAYS: "1" });
  const { identity } = loadIdentity(dir, {});
  const own = new StorageService({ config, identity, box: new SecretBox(identity.encryptionKey), log: pino({ level: "info" }, lines) });
  try {
    await own.internal.put("s/old.webm", "old");
    const t = new Date(Date.now() - 2 * DAY);
    fs.utimesSync(path.join(dir, "bucket", "s/old.webm"), t, t);
    own.start();
    const entry = await swept;
    assert.equal(entry.deletedFiles, 1);
    assert.equal(entry.deletedFolders, 1);
    assert.equal(entry.component, "storage-sweeper");
    assert.ok(!fs.existsSync(path.join(dir, "bucket", "s")));
  } finally {
    await own.stop();
    await own.stop(); // idempotent
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
