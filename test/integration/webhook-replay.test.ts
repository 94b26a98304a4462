import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { AppError } from "../../src/errors.ts";
import { setAppWebhookConfig } from "../../src/webhooks/webhook-config.ts";
import { listEvents, queueReplay } from "../../src/webhooks/webhook-log.ts";
import { DIALECTS } from "../support/db.ts";
import { attemptRows, eventRow, withFixture } from "../support/receiver.ts";

// Replays, leases (a dispatcher that died mid-delivery) and several dispatchers on one database.

for (const dialect of DIALECTS) {
  describe(`webhook replay and leases on ${dialect}`, () => {
    test("replay re-delivers a delivered event with the same body and id, logged as a replay", () =>
      withFixture(dialect, async (f) => {
        const receiver = await f.receiver();
        const id = await f.enqueue();
        const d = f.dispatcher();
        assert.equal(await d.runOnce(), 1);
        assert.deepEqual(await queueReplay(f.db, f.box, [id, id]), [{ id, url: receiver.url }]);
        assert.equal((await eventRow(f.db, id)).state, "replaying");
        assert.equal(await d.runOnce(), 1);
        assert.equal(await d.runOnce(), 0);
        assert.equal(receiver.requests.length, 2);
        assert.equal(receiver.requests[1].body, receiver.requests[0].body);
        assert.equal(receiver.requests[1].headers["x-tapedeck-event-id"], id);
        assert.equal(receiver.requests[1].headers["x-tapedeck-delivery-attempt"], "2");
        const attempts = await attemptRows(f.db, id);
        assert.deepEqual(
          attempts.map((a) => [a.attempt, a.replay, a.status_code]),
          [
            [1, 0, 200],
            [2, 1, 200],
          ],
        );
        assert.deepEqual([(await eventRow(f.db, id)).state, (await eventRow(f.db, id)).attempts], ["delivered", 2]);
      }));

    test("replay of a failed event goes to the endpoint configured now, with a fresh retry window", () =>
      withFixture(dialect, async (f) => {
        const old = (await f.receiver()).answerByDefault(410);
        const d = f.dispatcher({ retryForMs: 0 });
        const id = await f.enqueue();
        assert.equal(await d.runOnce(), 1);
        assert.equal((await eventRow(f.db, id)).state, "failed");

        // make the event far older than the retry window, so only a fresh window allows retries
        const twoHoursAgo = new Date(Date.now() - 7_200_000).toISOString();
        await f.db.updateTable("webhook_events").set({ created_at: twoHoursAgo }).where("id", "=", id).execute();
        const fixed = (await f.receiver()).answer(502);
        await setAppWebhookConfig(f.db, f.box, { url: fixed.url, headers: { "X-New": "1" }, enabled: true });
        await queueReplay(f.db, f.box, [id]);
        const retrying = f.dispatcher({ backoffMs: [1], retryForMs: 60_000 });
        assert.equal(await retrying.runOnce(), 1, "the replay attempt");
        const afterReplay = await eventRow(f.db, id);
        assert.equal(afterReplay.state, "pending", "a failed replay is retried although the event is older than retryForMs");
        await fixed.nextRequest();
        const delivered = fixed.nextRequest();
        retrying.start();
        await delivered;
        await retrying.stop();
        assert.equal(old.requests.length, 1);
        assert.deepEqual(
          fixed.requests.map((r) => r.answeredWith),
          [502, 200],
        );
        assert.equal(fixed.requests[1].headers["x-new"], "1");
        assert.deepEqual(
          (await attemptRows(f.db, id)).map((a) => [a.replay, a.status_code]),
          [
            [0, 410],
            [1, 502],
            [0, 200],
          ],
        );
      }));

    test("replay: unknown ids are a 404 naming them, events with no endpoint a 409; nothing is queued then", () =>
      withFixture(dialect, async (f) => {
        const orphan = await f.enqueue();
        await assert.rejects(queueReplay(f.db, f.box, [orphan, "nope"]), (e: AppError) => {
          assert.equal(e.status, 404);
          assert.deepEqual(e.details, ['no webhook event with id "nope"']);
          return true;
        });
        await assert.rejects(queueReplay(f.db, f.box, [orphan]), (e: AppError) => e.status === 409 && e.details[0].includes(orphan));
        assert.equal((await eventRow(f.db, orphan)).state, "no_endpoint");
        // once an endpoint exists, an event that had none can be replayed to it
        const receiver = await f.receiver();
        await queueReplay(f.db, f.box, [orphan]);
        assert.equal(await f.dispatcher().runOnce(), 1);
        assert.equal(receiver.requests[0].headers["x-tapedeck-event-id"], orphan);
      }));

    test("an event leased by a dispatcher that died is left alone until the lease runs out, then delivered", () =>
      withFixture(dialect, async (f) => {
        const receiver = await f.receiver();
        const id = await f.enqueue();
        // what a claim leaves behind when its process dies before recording the outcome
        const future = new Date(Date.now() + 60_000).toISOString();
        await f.db.updateTable("webhook_events").set({ locked_until: future, attempts: 1 }).where("id", "=", id).execute();
        const d = f.dispatcher();
        assert.equal(await d.runOnce(), 0);
        await f.db
          .updateTable("webhook_events")
          .set({ locked_until: new Date(Date.now() - 1).toISOString() })
          .where("id", "=", id)
          .execute();
        assert.equal(await d.runOnce(), 1);
        assert.equal(receiver.requests.length, 1);
        assert.equal(receiver.requests[0].headers["x-tapedeck-delivery-attempt"], "2");
        const row = await eventRow(f.db, id);
        assert.deepEqual([row.state, row.locked_until, row.attempts], ["delivered", null, 2]);
      }));

    test("two dispatchers on one database deliver each event exactly once", () =>
      withFixture(dialect, async (f) => {
        const receiver = await f.receiver();
        const ids = new Set<string>();
        for (let i = 0; i < 12; i++) ids.add(await f.enqueue({ data: { room_id: "r", n: i } }));
        const [a, b] = await Promise.all([f.dispatcher().runOnce(), f.dispatcher().runOnce()]);
        assert.equal(a + b, 12);
        const got = receiver.requests.map((r) => String(r.headers["x-tapedeck-event-id"]));
        assert.equal(got.length, 12);
        assert.deepEqual(new Set(got), ids);
        const attempts = await f.db.selectFrom("webhook_attempts").select("event_id").execute();
        assert.equal(attempts.length, 12);
      }));

    test("the log lists events in creation order with filters and 100ms-style pages", () =>
      withFixture(dialect, async (f) => {
        const ids: string[] = [];
        for (let i = 0; i < 5; i++)
          ids.push(await f.enqueue({ type: i % 2 ? "peer.join.success" : "peer.leave.success", data: { room_id: i < 3 ? "ra" : "rb" } }));
        const all = await listEvents(f.db, { limit: 100 });
        assert.deepEqual(
          all.map((r) => r.id),
          ids,
        );
        const page1 = await listEvents(f.db, { limit: 2 });
        const page2 = await listEvents(f.db, { limit: 2, start: page1[1].id });
        assert.deepEqual(
          [...page1.slice(0, 2), ...page2.slice(0, 2)].map((r) => r.id),
          ids.slice(0, 4),
        );
        assert.deepEqual(
          (await listEvents(f.db, { limit: 10, type: "peer.join.success" })).map((r) => r.id),
          [ids[1], ids[3]],
        );
        assert.deepEqual(
          (await listEvents(f.db, { limit: 10, room_id: "rb" })).map((r) => r.id),
          [ids[3], ids[4]],
        );
        assert.equal((await listEvents(f.db, { limit: 10, state: "no_endpoint" })).length, 5);
        assert.equal((await listEvents(f.db, { limit: 10, state: "pending" })).length, 0);
        await assert.rejects(listEvents(f.db, { limit: 10, start: "missing" }), (e: AppError) => e.status === 400);
      }));
  });
}
