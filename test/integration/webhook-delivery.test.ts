import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setAppWebhookConfig } from "../../src/webhooks/webhook-config.ts";
import { verifyWebhookSignature } from "../../src/webhooks/signer.ts";
import { DIALECTS } from "../support/db.ts";
import type { AttemptReport } from "../../src/webhooks/dispatcher.ts";
import { attemptRows, eventRow, nextAttempt, withFixture } from "../support/receiver.ts";

// The outbox and the dispatcher against a real HTTP receiver, on SQLite and PostgreSQL.

const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

for (const dialect of DIALECTS) {
  describe(`webhook delivery on ${dialect}`, () => {
    test("an event written in a transaction that rolls back is never delivered; a committed one is", () =>
      withFixture(dialect, async (f) => {
        const receiver = await f.receiver();
        const d = f.dispatcher();
        f.outbox.onEnqueued(() => d.kick());
        d.start();
        await assert.rejects(
          f.db.transaction().execute(async (trx) => {
            await f.outbox.enqueue(trx, { type: "session.open.success", data: { room_id: "gone" } });
            throw new Error("the state change failed");
          }),
          /the state change failed/,
        );
        const delivered = nextAttempt(d, (r) => r.outcome === "delivered");
        const id = await f.enqueue({ type: "session.close.success", data: { room_id: "kept" } });
        assert.equal((await delivered).eventId, id);
        await d.stop();
        assert.equal(await d.runOnce(), 0);
        assert.deepEqual(
          receiver.requests.map((r) => JSON.parse(r.body).data.room_id),
          ["kept"],
        );
        const rows = await f.db.selectFrom("webhook_events").select("id").execute();
        assert.deepEqual(
          rows.map((r) => r.id),
          [id],
        );
      }));

    test("a committed event is delivered once: exact envelope, custom headers, verifiable signature", () =>
      withFixture(dialect, async (f) => {
        const receiver = await f.receiver();
        await setAppWebhookConfig(f.db, f.box, {
          url: receiver.url,
          headers: { "X-Api-Key": "k-123", Authorization: "Basic dTpw" },
          enabled: true,
        });
        const data = { room_id: "r1", session_id: "s1", template_id: "t1", size: 10024, recording_single_files: [{ layer: "0" }] };
        const id = await f.enqueue({ type: "hls.recording.success", data });
        const d = f.dispatcher();
        assert.equal(await d.runOnce(), 1);
        assert.equal(await d.runOnce(), 0);
        assert.equal(receiver.requests.length, 1);

        const row = await eventRow(f.db, id);
        const req = receiver.requests[0];
        assert.equal(req.method, "POST");
        assert.equal(req.path, "/hook");
        assert.equal(req.body, row.body, "the stored body is delivered byte for byte");
        assert.match(row.created_at, ISO_UTC);
        assert.deepEqual(JSON.parse(req.body), {
          version: "2.0",
          id,
          app_id: f.identity.appId,
          account_id: f.identity.customerId,
          template_id: "t1",
          timestamp: row.created_at,
          type: "hls.recording.success",
          data,
        });
        assert.deepEqual(Object.keys(JSON.parse(req.body)), [
          "version",
          "id",
          "app_id",
          "account_id",
          "template_id",
          "timestamp",
          "type",
          "data",
        ]);
        assert.equal(req.headers["x-api-key"], "k-123");
        assert.equal(req.headers.authorization, "Basic dTpw");
        assert.equal(req.headers["content-type"], "application/json");
        assert.equal(req.headers["user-agent"], "tapedeck-webhooks/1");
        assert.equal(req.headers["x-tapedeck-event-id"], id);
        assert.equal(req.headers["x-tapedeck-event-type"], "hls.recording.success");
        assert.equal(req.headers["x-tapedeck-delivery-attempt"], "1");

        const header = req.headers["x-tapedeck-signature"];
        assert.equal(verifyWebhookSignature({ secret: f.identity.webhookSecret, header, body: req.rawBody }), true);
        assert.equal(
          verifyWebhookSignature({ secret: f.identity.webhookSecret, header, body: req.body.replace('"size":10024', '"size":10025') }),
          false,
        );
        assert.equal(verifyWebhookSignature({ secret: "whsec_someone_else", header, body: req.rawBody }), false);

        assert.equal(row.state, "delivered");
        assert.equal(row.attempts, 1);
        assert.equal(row.last_status, 200);
        assert.ok(row.delivered_at);
        const attempts = await attemptRows(f.db, id);
        assert.equal(attempts.length, 1);
        assert.equal(attempts[0].status_code, 200);
        assert.equal(attempts[0].error, null);
        assert.equal(attempts[0].replay, 0);
        assert.equal(attempts[0].response_excerpt, "ok");

        // header values are sealed at rest and never logged
        assert.ok(!row.headers?.includes("k-123"));
        const setting = await f.db.selectFrom("app_settings").select("value").where("key", "=", "webhook").executeTakeFirstOrThrow();
        assert.ok(!setting.value.includes("k-123"));
        assert.ok(!JSON.stringify(f.logLines).includes("k-123"));
        assert.ok(f.logLines.some((l) => l.msg === "webhook delivered" && l.event_id === id));
      }));

    test("SFU recording events carry version 1.0; template_id is omitted when unknown", () =>
      withFixture(dialect, async (f) => {
        const receiver = await f.receiver();
        await f.enqueue({ type: "recording.success", data: { room_id: "r1" } });
        assert.equal(await f.dispatcher().runOnce(), 1);
        const env = JSON.parse(receiver.requests[0].body);
        assert.equal(env.version, "1.0");
        assert.equal("template_id" in env, false);
      }));

    test("receiver down, then up: retried with backoff, delivered exactly once, refusals logged", () =>
      withFixture(dialect, async (f) => {
        const receiver = await f.receiver({ down: true });
        const d = f.dispatcher({ backoffMs: [50, 100] });
        const firstFailure = nextAttempt(d);
        const delivered = nextAttempt(d, (r) => r.outcome === "delivered");
        d.start();
        const id = await f.enqueue();
        d.kick();
        const failure = await firstFailure;
        assert.deepEqual([failure.eventId, failure.outcome, failure.statusCode, failure.error], [id, "retry", null, "connection refused"]);
        await receiver.listen();
        const req = await receiver.nextRequest();
        const ok = await delivered;
        await d.stop();

        assert.equal(receiver.requests.length, 1);
        assert.equal(req.headers["x-tapedeck-delivery-attempt"], String(ok.attempt));
        const attempts = await attemptRows(f.db, id);
        assert.equal(attempts.length, ok.attempt);
        assert.ok(attempts.length >= 2);
        for (const a of attempts.slice(0, -1)) assert.deepEqual([a.status_code, a.error], [null, "connection refused"]);
        assert.deepEqual([attempts.at(-1)!.status_code, attempts.at(-1)!.error], [200, null]);
        assert.ok(
          Date.parse(attempts[1].started_at) - Date.parse(attempts[0].started_at) >= 50,
          "the first retry waits the first backoff step",
        );
        const row = await eventRow(f.db, id);
        assert.deepEqual([row.state, row.attempts, row.last_status, row.last_error], ["delivered", attempts.length, 200, null]);
        assert.ok(f.logLines.some((l) => l.msg === "webhook attempt failed, will retry" && l.error === "connection refused"));
      }));

    test("receiver answering 500 then 200: two attempts, same body and id, both signed", () =>
      withFixture(dialect, async (f) => {
        const receiver = (await f.receiver()).answer(500);
        const d = f.dispatcher();
        const delivered = nextAttempt(d, (r) => r.outcome === "delivered");
        d.start();
        const id = await f.enqueue();
        d.kick();
        const [first, second] = [await receiver.nextRequest(), await receiver.nextRequest()];
        assert.equal((await delivered).attempt, 2);
        await d.stop();
        assert.equal(receiver.requests.length, 2);
        assert.deepEqual([first.answeredWith, second.answeredWith], [500, 200]);
        assert.equal(first.body, second.body);
        assert.deepEqual([first.headers["x-tapedeck-delivery-attempt"], second.headers["x-tapedeck-delivery-attempt"]], ["1", "2"]);
        for (const r of [first, second]) {
          assert.equal(r.headers["x-tapedeck-event-id"], id);
          assert.ok(
            verifyWebhookSignature({ secret: f.identity.webhookSecret, header: r.headers["x-tapedeck-signature"], body: r.rawBody }),
          );
        }
        const attempts = await attemptRows(f.db, id);
        assert.deepEqual(
          attempts.map((a) => [a.attempt, a.status_code, a.error, a.response_excerpt]),
          [
            [1, 500, "HTTP 500", "receiver says 500"],
            [2, 200, null, "ok"],
          ],
        );
      }));

    test("a room's webhook replaces the app webhook for that room's events", () =>
      withFixture(dialect, async (f) => {
        const app = await f.receiver();
        const room = await f.receiver();
        const webhook = JSON.stringify({ url: room.url, headers: { "X-Room-Secret": "rs" } });
        const roomEvent = await f.enqueue({ type: "peer.join.success", data: { room_id: "room-a" }, room: { id: "room-a", webhook } });
        const appEvent = await f.enqueue({ type: "peer.join.success", data: { room_id: "room-b" }, room: { id: "room-b", webhook: null } });
        assert.equal(await f.dispatcher().runOnce(), 2);
        assert.deepEqual(
          room.requests.map((r) => r.headers["x-tapedeck-event-id"]),
          [roomEvent],
        );
        assert.equal(room.requests[0].headers["x-room-secret"], "rs");
        assert.deepEqual(
          app.requests.map((r) => r.headers["x-tapedeck-event-id"]),
          [appEvent],
        );
        assert.equal(app.requests[0].headers["x-room-secret"], undefined);
        assert.equal((await eventRow(f.db, roomEvent)).room_id, "room-a");
      }));

    test("with no endpoint (none configured, or disabled) the event is kept as no_endpoint and not sent", () =>
      withFixture(dialect, async (f) => {
        const none = await f.enqueue();
        const receiver = await f.receiver();
        await setAppWebhookConfig(f.db, f.box, { url: receiver.url, headers: {}, enabled: false });
        const disabled = await f.enqueue();
        assert.equal(await f.dispatcher().runOnce(), 0);
        assert.equal(receiver.requests.length, 0);
        for (const id of [none, disabled]) {
          const row = await eventRow(f.db, id);
          assert.deepEqual([row.state, row.url, row.attempts], ["no_endpoint", null, 0]);
        }
      }));

    test("retries stop once retryForMs has passed: state failed, an error line, no more attempts", () =>
      withFixture(dialect, async (f) => {
        const receiver = (await f.receiver()).answerByDefault(503);
        const d = f.dispatcher({ backoffMs: [50, 100], retryForMs: 800 });
        const failed = nextAttempt(d, (r) => r.outcome === "failed");
        const reports: AttemptReport[] = [];
        d.onAttempt((r) => reports.push(r));
        d.start();
        const id = await f.enqueue();
        d.kick();
        const last = await failed;
        await d.stop();
        assert.equal(await d.runOnce(), 0);
        const row = await eventRow(f.db, id);
        assert.deepEqual([row.state, row.last_status, row.last_error, row.delivered_at], ["failed", 503, "HTTP 503", null]);
        assert.ok(last.attempt >= 3, `made ${last.attempt} attempts`);
        assert.equal(receiver.requests.length, last.attempt);
        const attempts = await attemptRows(f.db, id);
        assert.equal(attempts.length, last.attempt);
        // Every attempt failing inside the window was retried; the first failing past it ended the event.
        const created = Date.parse(row.created_at);
        assert.deepEqual(
          reports.map((r) => r.outcome),
          [...Array(last.attempt - 1).fill("retry"), "failed"],
        );
        for (const r of reports.slice(0, -1))
          assert.ok(Date.parse(r.decidedAt) < created + 800, `attempt ${r.attempt} was judged inside the window and retried`);
        assert.ok(Date.parse(last.decidedAt) >= created + 800, "the last one was judged past the window");
        const errors = f.logLines.filter((l) => l.level === 50);
        assert.equal(errors.length, 1);
        assert.equal(errors[0].msg, "webhook delivery failed permanently");
        assert.equal(errors[0].event_id, id);
      }));
  });
}
