import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { startTestApp } from "../support/app.ts";

// The data dir holds the app secret (identity.json), the database (sealed storage secrets, webhook
// headers) and recordings: only tapedeck's own user may read it. Files 0600, directories 0700.

const modeOf = (p: string) => fs.statSync(p).mode & 0o777;
const octal = (m: number) => `0${m.toString(8)}`;

test("a new data dir is 0700 and identity.json, tapedeck.db and its -wal/-shm are 0600", async () => {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-perm-"));
  const dataDir = path.join(parent, "data");
  const app = await startTestApp({ dataDir });
  try {
    await app.api("POST", "/v2/rooms", { name: "perm-room" }); // the database has written something
    assert.equal(octal(modeOf(dataDir)), "0700");
    for (const f of ["identity.json", "tapedeck.db", "tapedeck.db-wal", "tapedeck.db-shm"]) {
      const p = path.join(dataDir, f);
      assert.ok(fs.existsSync(p), `${f} exists`);
      assert.equal(octal(modeOf(p)), "0600", f);
    }
  } finally {
    await app.close();
    fs.rmSync(parent, { recursive: true, force: true });
  }
});

test("an existing data dir with looser modes is tightened at boot", async () => {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-perm-"));
  const dataDir = path.join(parent, "data");
  const first = await startTestApp({ dataDir });
  await first.close();
  fs.chmodSync(dataDir, 0o755);
  for (const f of ["identity.json", "tapedeck.db"]) fs.chmodSync(path.join(dataDir, f), 0o644);
  const app = await startTestApp({ dataDir });
  try {
    assert.equal(octal(modeOf(dataDir)), "0700");
    assert.equal(octal(modeOf(path.join(dataDir, "identity.json"))), "0600");
    assert.equal(octal(modeOf(path.join(dataDir, "tapedeck.db"))), "0600");
  } finally {
    await app.close();
    fs.rmSync(parent, { recursive: true, force: true });
  }
});
