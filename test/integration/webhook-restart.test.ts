import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { openDatabase } from "../../src/db/database.ts";
import { verifyWebhookSignature } from "../../src/webhooks/signer.ts";
import { attemptRows, eventRow, nextAttempt, testIdentity, webhookFixture } from "../support/receiver.ts";

// tapedeck stops between two attempts (dispatcher stopped, database closed) and starts again on the
// same SQLite file: the event is delivered by the new process, once, and its history is intact.

test("a restart between attempts loses nothing and duplicates nothing", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-webhook-restart-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const url = `sqlite:${path.join(dir, "tapedeck.db")}`;
  const identity = testIdentity();

  // first life: the receiver is down, the first attempt is refused
  const first = await webhookFixture(await openDatabase(url), identity);
  const receiver = await first.receiver({ down: true });
  const id = await first.enqueue({ type: "beam.recording.success", data: { room_id: "r1", recording_id: "rec1" } });
  const before = first.dispatcher({ backoffMs: [50] });
  assert.equal(await before.runOnce(), 1);
  const afterFirst = await eventRow(first.db, id);
  assert.deepEqual(
    [afterFirst.state, afterFirst.attempts, afterFirst.last_error, afterFirst.locked_until],
    ["pending", 1, "connection refused", null],
  );
  const body = afterFirst.body;
  await first.close(); // stops the dispatcher, closes the database

  // second life: a new database handle and dispatcher on the same file; the receiver is back
  await receiver.listen();
  t.after(() => receiver.close());
  const second = await webhookFixture(await openDatabase(url), identity);
  t.after(() => second.close());
  const after = second.dispatcher({ backoffMs: [50] });
  const delivered = nextAttempt(after, (r) => r.outcome === "delivered");
  after.start();
  const req = await receiver.nextRequest();
  assert.equal((await delivered).eventId, id);
  await after.stop();
  assert.equal(await after.runOnce(), 0);

  assert.equal(receiver.requests.length, 1);
  assert.equal(req.body, body);
  assert.equal(req.headers["x-tapedeck-event-id"], id);
  assert.equal(req.headers["x-tapedeck-delivery-attempt"], "2");
  assert.ok(verifyWebhookSignature({ secret: identity.webhookSecret, header: req.headers["x-tapedeck-signature"], body: req.rawBody }));
  const row = await eventRow(second.db, id);
  assert.deepEqual([row.state, row.attempts, row.last_status], ["delivered", 2, 200]);
  assert.deepEqual(
    (await attemptRows(second.db, id)).map((a) => [a.attempt, a.status_code, a.error]),
    [
      [1, null, "connection refused"],
      [2, 200, null],
    ],
  );
  assert.equal((await second.db.selectFrom("webhook_events").select("id").execute()).length, 1);
});
