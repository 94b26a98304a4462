import assert from "node:assert/strict";
import { test } from "node:test";
import { newEventId } from "../../src/webhooks/outbox.ts";

test("event ids are UUIDv7: valid UUIDs carrying their millisecond, ordered even within one millisecond", () => {
  const now = Date.parse("2030-01-02T03:04:05.678Z");
  const ids = Array.from({ length: 5000 }, () => newEventId(now));
  for (const id of ids.slice(0, 10)) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(parseInt(ids[0].replace(/-/g, "").slice(0, 12), 16), now);
  assert.deepEqual([...ids].sort(), ids, "sorted as made");
  assert.equal(new Set(ids).size, ids.length);
  // more than 4096 ids in one millisecond borrow the next millisecond rather than repeat
  assert.ok(parseInt(ids.at(-1)!.replace(/-/g, "").slice(0, 12), 16) > now);
  assert.ok(newEventId(now - 10_000) > ids.at(-1)!, "a clock going back does not break the order");
});
