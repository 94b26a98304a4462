import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { FileFollower } from "../../src/recorders/core/follow-file.ts";
import { LocalStorage } from "../../src/storage/local.storage.ts";
import { PART_SIZE, S3Storage } from "../../src/storage/s3.storage.ts";
import { startS3rver, type TestS3 } from "../support/s3rver.ts";

// The browser recorder's upload while recording: the upload reads the spool file through a
// FileFollower as the recorder appends to it, so parts reach the bucket during the recording and only
// the last one is left at the stop. Here the recorder is played by appends of random bytes.

let s3: TestS3;
let dir: string;

before(async () => {
  s3 = await startS3rver();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-follow-"));
});
after(async () => {
  await s3?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** Appends `total` bytes in 256 kB writes, calling grew() after each, with a turn of the event loop between. */
async function writeGrowing(
  file: string,
  follower: FileFollower,
  total: number,
  onWritten?: (bytes: number) => Promise<void>,
): Promise<Buffer> {
  const all = randomBytes(total);
  const fd = fs.openSync(file, "a");
  for (let at = 0; at < total; at += 256 * 1024) {
    fs.writeSync(fd, all.subarray(at, Math.min(total, at + 256 * 1024)));
    follower.grew();
    await onWritten?.(Math.min(total, at + 256 * 1024));
    await new Promise((r) => setImmediate(r));
  }
  fs.closeSync(fd);
  return all;
}

test("a growing file reaches an S3 bucket part by part while it is written, and whole at the end", async () => {
  const storage = new S3Storage({
    type: "s3",
    location: s3.bucket,
    prefix: "",
    options: { endpoint: s3.endpoint },
    credentials: { key: s3.accessKey, secret: s3.secret },
  });
  const file = path.join(dir, "growing.mp4");
  fs.writeFileSync(file, "");
  const follower = new FileFollower(file);
  const partsSeen = () => s3.requests.filter((r) => r.method === "PUT" && r.path.endsWith("/live/rec.mp4")).length;
  const upload = storage.put("live/rec.mp4", follower.stream(), { contentType: "video/mp4" });
  let partsBeforeEnd = 0;
  const bytes = await writeGrowing(file, follower, 2 * PART_SIZE + 123_457, async (written) => {
    // Once two parts' worth is on disk, the first part must be on its way without waiting for the end.
    if (written >= 2 * PART_SIZE && !partsBeforeEnd) {
      const deadline = Date.now() + 20_000;
      while (partsSeen() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      partsBeforeEnd = partsSeen();
    }
  });
  assert.ok(partsBeforeEnd >= 1, "a part was uploaded before the writer finished");
  follower.end();
  const { size } = await upload;
  assert.equal(size, bytes.length);
  const stream = await storage.get("live/rec.mp4");
  const got = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream
      .on("data", (c: Buffer) => chunks.push(c))
      .on("end", () => resolve(Buffer.concat(chunks)))
      .on("error", reject);
  });
  assert.equal(sha(got), sha(bytes));
  storage.destroy();
});

test("the internal bucket takes a growing file the same way; a follower that reads ahead of the writer waits, never ends early", async () => {
  const storage = new LocalStorage({ root: path.join(dir, "bucket"), publicUrl: () => "http://localhost", signingKey: "k".repeat(32) });
  const file = path.join(dir, "growing-local.mp4");
  fs.writeFileSync(file, "");
  const follower = new FileFollower(file, 64 * 1024);
  const upload = storage.put("rec/local.mp4", follower.stream());
  const bytes = await writeGrowing(file, follower, 3 * 1024 * 1024 + 7);
  follower.end();
  assert.equal((await upload).size, bytes.length);
  assert.equal(sha(fs.readFileSync(path.join(dir, "bucket", "rec", "local.mp4"))), sha(bytes));
});
