import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { verifyWebhookSignature } from "../../src/webhooks/signer.ts";
import { DELIVERED_EVENT_TYPES, WEBHOOK_STATES } from "../../src/domain/webhook-types.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { DIALECTS } from "../support/db.ts";
import { nextAttempt, TestReceiver } from "../support/receiver.ts";
import type {
  EventLogPage,
  ApiError,
  DeliveryDetail,
  DeliveryLogEntry,
  ListPage,
  ReplayAnswer,
  Room,
  WebhookConfig,
  WebhookEnvelope,
} from "../support/api-types.ts";

// The webhook endpoints of a whole tapedeck: config, delivery log, events, replay.

for (const dialect of DIALECTS) {
  describe(`webhook API on ${dialect}`, () => {
    let app: TestApp;
    let receiver: TestReceiver;
    before(async () => {
      app = await startTestApp({ dialect });
      receiver = await TestReceiver.start();
    });
    after(async () => {
      await app.close();
      await receiver.close();
    });

    /** Enqueues an event the way a service does, and waits until the running dispatcher has tried it. */
    async function emit(
      type: "beam.recording.success" | "peer.join.success",
      data: Record<string, unknown>,
      room?: { id: string; webhook: string | null },
    ) {
      const tried = nextAttempt(app.ctx.dispatcher);
      const id = await app.ctx.db.transaction().execute((trx) => app.ctx.outbox.enqueue(trx, { type, data, room }));
      app.ctx.dispatcher.kick();
      assert.equal((await tried).eventId, id);
      return id;
    }

    test("config: empty at first, validated, stored and shown with the signing secret", async () => {
      const empty = await app.api<WebhookConfig>("GET", "/v2/webhooks/config");
      assert.equal(empty.status, 200);
      assert.deepEqual(empty.body, { url: null, headers: {}, enabled: false, signing_secret: app.ctx.identity.webhookSecret });

      for (const body of [
        {},
        { url: "ftp://x.example" },
        { url: receiver.url, headers: { "X-Tapedeck-Signature": "x" } },
        { url: receiver.url, headers: { "X-A": "a\nb" } },
      ]) {
        const bad = await app.api<ApiError>("POST", "/v2/webhooks/config", body);
        assert.equal(bad.status, 400, JSON.stringify(body));
        assert.equal(bad.body.code, 400);
        assert.match(bad.body.message, /^Invalid body param: /);
        assert.ok(Array.isArray(bad.body.details) && bad.body.details.length > 0);
      }

      // A header tapedeck sets itself is refused by name, for the app and for a room alike.
      const reserved = await app.api<ApiError>("POST", "/v2/webhooks/config", { url: receiver.url, headers: { "User-Agent": "mine" } });
      assert.deepEqual(reserved.body.details, [
        "headers.User-Agent: User-Agent is set by tapedeck on every delivery and cannot be overridden",
      ]);
      const roomReserved = await app.api<ApiError>("POST", "/v2/rooms", {
        name: `reserved-${dialect}`,
        webhook: { url: receiver.url, headers: { "x-tapedeck-signature": "x" } },
      });
      assert.equal(roomReserved.status, 400);
      assert.match(roomReserved.body.details[0], /x-tapedeck-signature is set by tapedeck/);

      const set = await app.api<WebhookConfig>("POST", "/v2/webhooks/config", { url: receiver.url, headers: { "X-Api-Key": "abc" } });
      assert.equal(set.status, 200);
      const expected = {
        url: receiver.url,
        headers: { "X-Api-Key": "abc" },
        enabled: true,
        signing_secret: app.ctx.identity.webhookSecret,
      };
      assert.deepEqual(set.body, expected);
      assert.deepEqual((await app.api<WebhookConfig>("GET", "/v2/webhooks/config")).body, expected);

      const noToken = await fetch(`${app.url}/v2/webhooks/config`);
      assert.equal(noToken.status, 401);
    });

    test("log and events: delivered events with their attempts and envelopes, filtered and paged", async () => {
      const a = await emit("beam.recording.success", { room_id: "log-room", recording_id: "rec-1" });
      const b = await emit("peer.join.success", { room_id: "log-room" });
      const signed = receiver.requests.at(-1)!;
      assert.ok(
        verifyWebhookSignature({
          secret: (await app.api<WebhookConfig>("GET", "/v2/webhooks/config")).body.signing_secret,
          header: signed.headers["x-tapedeck-signature"],
          body: signed.rawBody,
        }),
      );

      const log = await app.api<ListPage<DeliveryLogEntry>>("GET", "/v2/webhooks/deliveries?room_id=log-room&limit=1");
      assert.equal(log.status, 200);
      assert.equal(log.body.limit, 1);
      assert.equal(log.body.data.length, 1);
      assert.equal(log.body.data[0].id, a);
      assert.equal(log.body.last, a);
      const next = await app.api<ListPage<DeliveryLogEntry>>(
        "GET",
        `/v2/webhooks/deliveries?room_id=log-room&limit=1&start=${log.body.last}`,
      );
      assert.deepEqual(
        next.body.data.map((e: { id: string }) => e.id),
        [b],
      );
      assert.equal(next.body.last, "");
      const entry = next.body.data[0];
      assert.deepEqual(
        [entry.type, entry.room_id, entry.state, entry.url, entry.attempts, entry.last_status, entry.last_error, entry.next_attempt_at],
        ["peer.join.success", "log-room", "delivered", receiver.url, 1, 200, null, null],
      );

      // Newest first, paging back in time.
      const newest = await app.api<ListPage<DeliveryLogEntry>>("GET", "/v2/webhooks/deliveries?room_id=log-room&order=desc&limit=1");
      assert.deepEqual([newest.body.data[0].id, newest.body.last], [b, b]);
      const older = await app.api<ListPage<DeliveryLogEntry>>(
        "GET",
        `/v2/webhooks/deliveries?room_id=log-room&order=desc&limit=1&start=${b}`,
      );
      assert.deepEqual([older.body.data.map((e: { id: string }) => e.id), older.body.last], [[a], ""]);

      const filtered = await app.api<ListPage<DeliveryLogEntry>>(
        "GET",
        "/v2/webhooks/deliveries?type=beam.recording.success&room_id=log-room&state=delivered",
      );
      assert.deepEqual(
        filtered.body.data.map((e: { id: string }) => e.id),
        [a],
      );
      assert.deepEqual((await app.api<ListPage<DeliveryLogEntry>>("GET", "/v2/webhooks/deliveries?state=failed")).body.data, []);
      for (const q of ["type=nope", "state=lost", "order=newest", "limit=0", "limit=101", "start=unknown"]) {
        const bad = await app.api<ApiError>("GET", `/v2/webhooks/deliveries?${q}`);
        assert.equal(bad.status, 400, q);
        assert.equal(bad.body.code, 400);
      }

      const one = await app.api<DeliveryDetail>("GET", `/v2/webhooks/deliveries/${a}`);
      assert.equal(one.status, 200);
      assert.equal(one.body.envelope.id, a);
      assert.deepEqual(one.body.envelope.data, { room_id: "log-room", recording_id: "rec-1" });
      assert.deepEqual(
        one.body.attempt_log.map((x) => [x.attempt, x.status_code, x.replay]),
        [[1, 200, false]],
      );
      const missing = await app.api<ApiError>("GET", "/v2/webhooks/deliveries/no-such-event");
      assert.equal(missing.status, 404);
      assert.deepEqual(missing.body.details, ['no webhook event with id "no-such-event"']);

      const events = await app.api<EventLogPage>("GET", "/v2/analytics/events?type=beam.recording.success&room_id=log-room");
      assert.equal(events.status, 200);
      assert.deepEqual(events.body.events, [JSON.parse(receiver.requests.find((r) => r.headers["x-tapedeck-event-id"] === a)!.body)]);
      assert.equal(events.body.next, "");
    });

    test("replay: re-delivers now, to the room's current webhook when it has one; unknown ids 404", async () => {
      const roomReceiver = await TestReceiver.start();
      try {
        const room = await app.api<Room>("POST", "/v2/rooms", {
          name: `webhook-room-${dialect}`,
          webhook: { url: roomReceiver.url, headers: { "X-Room": "1" } },
        });
        assert.equal(room.status, 200);
        const id = await emit("peer.join.success", { room_id: room.body.id }, { id: room.body.id, webhook: null });
        const first = receiver.requests.at(-1)!;
        assert.equal(first.headers["x-tapedeck-event-id"], id, "no room webhook at enqueue time: the app webhook");

        const delivered = roomReceiver.nextRequest();
        const replay = await app.api<ReplayAnswer>("POST", "/v2/webhooks/deliveries/replay", { event_ids: [id] });
        assert.equal(replay.status, 200);
        assert.deepEqual(replay.body, { data: [{ id, state: "replaying", url: roomReceiver.url }] });
        const again = await delivered;
        assert.equal(again.body, first.body);
        assert.equal(again.headers["x-room"], "1");

        const unknown = await app.api<ApiError>("POST", "/v2/webhooks/deliveries/replay", { event_ids: [id, "ghost"] });
        assert.equal(unknown.status, 404);
        assert.deepEqual(unknown.body.details, ['no webhook event with id "ghost"']);
        for (const body of [{}, { event_ids: [] }, { event_ids: Array.from({ length: 101 }, (_, i) => `e${i}`) }]) {
          assert.equal((await app.api<ReplayAnswer>("POST", "/v2/webhooks/deliveries/replay", body)).status, 400);
        }
      } finally {
        await roomReceiver.close();
      }
    });

    test("config: deleting the app webhook forgets it; later events have no endpoint", async () => {
      const before = await app.api<WebhookConfig>("GET", "/v2/webhooks/config");
      const removed = await app.api<WebhookConfig>("DELETE", "/v2/webhooks/config");
      assert.equal(removed.status, 200);
      assert.deepEqual(removed.body, { url: null, headers: {}, enabled: false, signing_secret: app.ctx.identity.webhookSecret });
      assert.deepEqual((await app.api<WebhookConfig>("GET", "/v2/webhooks/config")).body, removed.body);
      const id = await app.ctx.db
        .transaction()
        .execute((trx) => app.ctx.outbox.enqueue(trx, { type: "peer.join.success", data: { room_id: "no-endpoint-room" } }));
      assert.equal((await app.api<DeliveryDetail>("GET", `/v2/webhooks/deliveries/${id}`)).body.state, "no_endpoint");
      assert.equal((await app.api<WebhookConfig>("DELETE", "/v2/webhooks/config")).status, 200, "deleting twice is not an error");
      await app.api<WebhookConfig>("POST", "/v2/webhooks/config", { url: before.body.url, headers: before.body.headers });
    });

    test("test event: POST /v2/webhooks/test sends a signed webhook.test through the outbox and the log; the event types are listed; refused without an endpoint", async () => {
      const types = await app.api<{ event_types: string[]; states: string[] }>("GET", "/v2/webhooks/event-types");
      assert.equal(types.status, 200);
      assert.deepEqual(types.body.event_types, [...DELIVERED_EVENT_TYPES]);
      assert.ok(!types.body.event_types.includes("track.add.success"), "analytics-only events are no webhooks");
      assert.ok(types.body.event_types.includes("webhook.test"));
      assert.deepEqual(types.body.states, [...WEBHOOK_STATES]);

      await app.api<WebhookConfig>("POST", "/v2/webhooks/config", { url: receiver.url, headers: { "X-Api-Key": "abc" } });
      const tried = nextAttempt(app.ctx.dispatcher);
      const sent = await app.api<{ id: string; type: string; state: string; url: string }>("POST", "/v2/webhooks/test", {
        message: "hello from the test",
      });
      assert.equal(sent.status, 200, JSON.stringify(sent.body));
      assert.deepEqual({ ...sent.body, id: "" }, { id: "", type: "webhook.test", state: "pending", url: receiver.url });
      assert.equal((await tried).eventId, sent.body.id);
      const got = receiver.requests.find((r) => r.headers["x-tapedeck-event-id"] === sent.body.id)!;
      assert.ok(got, "delivered to the app webhook");
      assert.equal(got.headers["x-api-key"], "abc");
      assert.ok(
        verifyWebhookSignature({ secret: app.ctx.identity.webhookSecret, header: got.headers["x-tapedeck-signature"], body: got.rawBody }),
      );
      const envelope = JSON.parse(got.body) as WebhookEnvelope;
      assert.equal(envelope.type, "webhook.test");
      assert.equal(envelope.data.message, "hello from the test");
      const logged = await app.api<DeliveryDetail>("GET", `/v2/webhooks/deliveries/${sent.body.id}`);
      assert.deepEqual([logged.body.type, logged.body.state, logged.body.last_status], ["webhook.test", "delivered", 200]);
      const filtered = await app.api<ListPage<DeliveryLogEntry>>("GET", "/v2/webhooks/deliveries?type=webhook.test");
      assert.deepEqual(
        filtered.body.data.map((e) => e.id),
        [sent.body.id],
      );

      // To a room's own webhook when a room is named.
      const roomReceiver = await TestReceiver.start();
      try {
        const room = await app.api<Room>("POST", "/v2/rooms", { name: `test-event-room-${dialect}`, webhook: { url: roomReceiver.url } });
        const arrived = roomReceiver.nextRequest();
        const toRoom = await app.api<{ id: string; url: string }>("POST", "/v2/webhooks/test", { room_id: room.body.id });
        assert.equal(toRoom.status, 200, JSON.stringify(toRoom.body));
        assert.equal(toRoom.body.url, roomReceiver.url);
        const req = await arrived;
        assert.equal(req.headers["x-tapedeck-event-id"], toRoom.body.id);
        assert.equal(JSON.parse(req.body).data.room_id, room.body.id);
      } finally {
        await roomReceiver.close();
      }

      for (const body of [{ message: 5 }, { message: "x".repeat(501) }, { nope: true }, { room_id: "not-an-id" }]) {
        const bad = await app.api<ApiError>("POST", "/v2/webhooks/test", body);
        assert.equal(bad.status, 400, JSON.stringify(body));
        assert.equal(bad.body.code, 400);
        assert.match(bad.body.message, /^Invalid body param: /);
        assert.ok(bad.body.details.length > 0);
      }
      const ghost = await app.api<ApiError>("POST", "/v2/webhooks/test", { room_id: "0123456789abcdef01234567" });
      assert.equal(ghost.status, 404);

      const before = await app.api<WebhookConfig>("GET", "/v2/webhooks/config");
      await app.api<WebhookConfig>("DELETE", "/v2/webhooks/config");
      const none = await app.api<ApiError>("POST", "/v2/webhooks/test", {});
      assert.equal(none.status, 409);
      assert.equal(none.body.code, 409);
      assert.equal(none.body.message, "No webhook endpoint is configured");
      assert.match(none.body.details[0], /POST \/v2\/webhooks\/config/);
      const noToken = await fetch(`${app.url}/v2/webhooks/test`, { method: "POST" });
      assert.equal(noToken.status, 401);
      await app.api<WebhookConfig>("POST", "/v2/webhooks/config", { url: before.body.url, headers: before.body.headers });
    });
  });
}
