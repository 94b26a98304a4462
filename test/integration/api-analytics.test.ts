import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { WebhookEventType } from "../../src/domain/webhook-types.ts";
import { newObjectId } from "../../src/ids.ts";
import type { ApiError, EventLogPage } from "../support/api-types.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { DIALECTS } from "../support/db.ts";
import { nextAttempt, TestReceiver } from "../support/receiver.ts";
import { until } from "../support/wait.ts";

// 100ms's analytics API against its reference: the event log's filters, page shape and cursor
// (GET /v2/analytics/events), its webhook delivery history (GET /v2/analytics/webhooks) and replay by
// time range with its status (POST /v2/analytics/webhooks/replay, GET …/replay/:workflow_id).

interface HistoryEntry {
  event_id: string;
  event_name: string;
  room_id: string;
  event_timestamp: string;
  payload: { event_data: Record<string, string>; webhook_url: string; original_event_name: string; error_reason?: string };
}
interface History {
  events: HistoryEntry[];
  pagination: { current_page: number; page_size: number; total_pages: number; total_items: number; has_next: boolean; has_prev: boolean };
  summary: { total_events: number };
}
interface ReplayStarted {
  workflow_id: string;
  status: string;
  message: string;
  filters: { start_time: string; end_time: string; room_id: string; event_types: string[] };
}
interface ReplayStatus {
  workflow_id: string;
  status: string;
  started_at: string;
  completed_at?: string;
  filters: Record<string, unknown>;
  progress: { total: number; completed: number; failed: number };
  result: { total: number; completed: number; failed: number; failed_events: string[] };
}

for (const dialect of DIALECTS) {
  describe(`analytics API on ${dialect}`, () => {
    let app: TestApp;
    let receiver: TestReceiver;
    const roomId = newObjectId();
    const sessionId = newObjectId();
    before(async () => {
      // One attempt, no retries: a refused delivery is `failed` at once.
      app = await startTestApp({ dialect, config: { webhooks: { timeoutMs: 2_000, backoffMs: [50], retryForMs: 0, pollMs: 200 } } });
      receiver = await TestReceiver.start();
      await app.api("POST", "/v2/webhooks/config", { url: receiver.url });
    });
    after(async () => {
      await app.close();
      await receiver.close();
    });

    const write = (type: WebhookEventType, data: Record<string, unknown>) =>
      app.ctx.db.transaction().execute((trx) => app.ctx.outbox.enqueue(trx, { type, data: { room_id: roomId, ...data } }));
    /** Writes a delivered event and waits until the dispatcher tried it. */
    const deliver = async (type: WebhookEventType, data: Record<string, unknown>) => {
      const tried = nextAttempt(app.ctx.dispatcher);
      const id = await write(type, data);
      app.ctx.dispatcher.kick();
      assert.equal((await tried).eventId, id);
      return id;
    };
    const get = <T>(path: string) => app.api<T>("GET", path);

    test("events: track events by type, session, peer and user; error=true; {limit, total, next, events} with a snapshot cursor", async () => {
      const track = (peer: string, user: string, mute: boolean) => ({
        session_id: sessionId,
        peer_id: peer,
        user_id: user,
        track_id: `${peer}-audio`,
        type: "audio",
        source: "regular",
        mute,
      });
      const ids = [
        await write("track.add.success", track("p1", "u1", false)),
        await write("track.update.success", track("p1", "u1", true)),
        await write("track.add.success", track("p2", "u2", false)),
        await write("track.remove.success", track("p1", "u1", true)),
        await write("client.publish.failed", { session_id: sessionId, peer_id: "p2", user_id: "u2", error_code: 400 }),
      ];
      const beam = await deliver("beam.recording.success", { session_id: sessionId, beam_id: "beam-1" });
      assert.equal(receiver.requests.length, 1, "analytics events are never sent to the webhook; the beam event is");

      const page = (q: string) => get<EventLogPage>(`/v2/analytics/events?room_id=${roomId}&${q}`);
      const all = await page("limit=100");
      assert.equal(all.status, 200);
      assert.deepEqual(Object.keys(all.body), ["limit", "total", "next", "events"]);
      assert.deepEqual(
        all.body.events.map((e) => e.id),
        [...ids, beam],
      );
      assert.deepEqual([all.body.limit, all.body.total, all.body.next], [6, 6, ""]);
      assert.deepEqual(Object.keys(all.body.events[0]).sort(), ["account_id", "app_id", "data", "id", "timestamp", "type", "version"]);

      const types = await page("type=track.add.success&type=track.remove.success");
      assert.deepEqual(
        types.body.events.map((e) => e.id),
        [ids[0], ids[2], ids[3]],
      );
      assert.deepEqual((await page("peer_id=p1")).body.events.length, 3);
      assert.deepEqual((await page("user_id=u2")).body.total, 2);
      assert.deepEqual((await page(`session_id=${sessionId}&type=track.update.success`)).body.events[0].data.mute, true);
      assert.deepEqual(
        (await page("beam_id=beam-1")).body.events.map((e) => e.id),
        [beam],
      );
      assert.deepEqual(
        (await page("error=true")).body.events.map((e) => e.type),
        ["client.publish.failed"],
      );
      assert.deepEqual((await page("error=true&type=track.add.success")).body, { limit: 0, total: 0, next: "", events: [] });

      // Two at a time; an event written after the first page is not in this walk (the snapshot).
      const first = await page("limit=2");
      assert.deepEqual([first.body.limit, first.body.total], [2, 6]);
      assert.notEqual(first.body.next, "");
      await write("track.add.success", track("p3", "u3", false));
      const seen = [...first.body.events.map((e) => e.id)];
      let next = first.body.next;
      while (next) {
        const p = await page(`limit=2&start=${encodeURIComponent(next)}`);
        assert.equal(p.status, 200, JSON.stringify(p.body));
        assert.equal(p.body.total, 6);
        seen.push(...p.body.events.map((e) => e.id));
        next = p.body.next;
      }
      assert.deepEqual(seen, [...ids, beam]);
      assert.equal((await page("limit=100")).body.total, 7, "a new query sees the new event");
    });

    test("events: an unknown filter, type or value is a 400 naming it", async () => {
      const cases: Array<[string, RegExp]> = [
        ["foo=1", /unknown filter "foo"/],
        ["room_id=x&start_time=2024-01-01T00:00:00Z", /unknown filter "start_time"/],
        ["type=track.add", /type must be one of/],
        ["type=track.add.success&type=bogus", /type must be one of/],
        ["error=maybe", /true or false/],
        ["limit=0", /limit must be between 1 and 100/],
        ["limit=101", /limit must be between 1 and 100/],
        ["start=not-a-cursor", /start/],
        ["room_id=a&room_id=b", /room_id/],
        ["peer_id=", /peer_id must not be empty/],
      ];
      for (const [q, message] of cases) {
        const res = await get<ApiError>(`/v2/analytics/events?${q}`);
        assert.equal(res.status, 400, q);
        assert.match(`${res.body.message} ${res.body.details.join(" ")}`, message, q);
      }
    });

    test("webhooks: delivery history by status, event names, room and time range, paged; 100ms's range errors", async () => {
      const room = newObjectId();
      const ok = await deliver("peer.join.success", { room_id: room, session_id: "s-1", peer_id: "p-1", user_id: "u-1" });
      receiver.answer(500);
      const bad = await deliver("session.open.success", { room_id: room, session_id: "s-1" });
      await write("track.add.success", { room_id: room, peer_id: "p-1" });

      const list = <T = History>(q: string) => get<T>(`/v2/analytics/webhooks?room_id=${room}&${q}`);
      const all = await list("");
      assert.equal(all.status, 200, JSON.stringify(all.body));
      assert.deepEqual(Object.keys(all.body), ["events", "pagination", "summary"]);
      assert.deepEqual(
        all.body.events.map((e) => [e.event_id, e.event_name, e.payload.original_event_name]),
        [
          [bad, "reporter.webhook.delivery.failed", "session.open.success"],
          [ok, "reporter.webhook.delivery.success", "peer.join.success"],
        ],
      );
      assert.deepEqual(all.body.events[0].payload, {
        event_data: { session_id: "s-1" },
        webhook_url: receiver.url,
        original_event_name: "session.open.success",
        error_reason: "HTTP 500",
      });
      assert.deepEqual(all.body.events[1].payload.event_data, { session_id: "s-1", peer_id: "p-1", user_id: "u-1" });
      assert.ok(!("error_reason" in all.body.events[1].payload), "error_reason only for a failed delivery");
      assert.deepEqual(all.body.pagination, {
        current_page: 1,
        page_size: 50,
        total_pages: 1,
        total_items: 2,
        has_next: false,
        has_prev: false,
      });
      assert.deepEqual(all.body.summary, { total_events: 2 });

      assert.deepEqual(
        (await list("status=failed")).body.events.map((e) => e.event_id),
        [bad],
      );
      assert.deepEqual(
        (await list("status=success")).body.events.map((e) => e.event_id),
        [ok],
      );
      assert.deepEqual(
        (await list("event_names=peer.join.success&event_names=beam.failure")).body.events.map((e) => e.event_id),
        [ok],
      );
      const second = await list("limit=1&page=2");
      assert.deepEqual(
        second.body.events.map((e) => e.event_id),
        [ok],
      );
      assert.deepEqual(
        [second.body.pagination.total_pages, second.body.pagination.has_next, second.body.pagination.has_prev],
        [2, false, true],
      );
      const future = new Date(Date.now() + 60_000).toISOString();
      assert.deepEqual((await list(`start_time=${future}&end_time=${future}`)).body.events, []);

      const day = 86_400_000;
      const errors: Array<[string, number, RegExp]> = [
        [`start_time=${new Date(Date.now() - 31 * day).toISOString()}`, 400, /^start_time must be within the last 30 days$/],
        [
          `start_time=${new Date(Date.now() - 20 * day).toISOString()}&end_time=${new Date().toISOString()}`,
          400,
          /^end_time must be within 14 days after start_time$/,
        ],
        ["status=pending", 400, /status must be one of all, failed, success/],
        ["event_names=track.add.success", 400, /event_names must be one of/],
        ["page=0", 400, /page must be 1 or more/],
        ["order=desc", 400, /unknown filter "order"/],
      ];
      for (const [q, status, message] of errors) {
        const res = await list<ApiError>(q);
        assert.equal(res.status, status, q);
        assert.match(res.body.message, message, q);
      }
    });

    test("webhooks: replay by time range re-delivers the failed ones; its status says how it went; unknown id 404", async () => {
      const room = newObjectId();
      receiver.answer(500, 500);
      const a = await deliver("peer.leave.success", { room_id: room });
      const b = await deliver("session.close.success", { room_id: room });
      const fine = await deliver("peer.join.success", { room_id: room });

      const before = receiver.requests.length;
      const started = await app.api<ReplayStarted>("POST", "/v2/analytics/webhooks/replay", { room_id: room });
      assert.equal(started.status, 200, JSON.stringify(started.body));
      assert.match(started.body.workflow_id, new RegExp(`^webhook-replay-${app.ctx.identity.customerId}-[0-9a-f]{8}$`));
      assert.deepEqual(
        { ...started.body, workflow_id: "", filters: { ...started.body.filters, start_time: "", end_time: "" } },
        {
          workflow_id: "",
          status: "started",
          message: "Webhook replay has been queued for processing",
          filters: { start_time: "", end_time: "", room_id: room, event_types: [] },
        },
      );
      app.ctx.dispatcher.kick();
      const status = await until(
        async () => {
          const s = await get<ReplayStatus>(`/v2/analytics/webhooks/replay/${started.body.workflow_id}`);
          assert.equal(s.status, 200, JSON.stringify(s.body));
          return s.body.status !== "Running" && s.body;
        },
        "the replay to finish",
        10_000,
      );
      assert.equal(status.status, "completed");
      assert.deepEqual(status.progress, { total: 2, completed: 2, failed: 0 });
      assert.deepEqual(status.result, { total: 2, completed: 2, failed: 0, failed_events: [] });
      assert.ok(status.completed_at && status.completed_at >= status.started_at);
      const replayed = receiver.requests.slice(before).map((r) => r.headers["x-tapedeck-event-id"]);
      assert.deepEqual(replayed.sort(), [a, b].sort(), "the failed ones, not the delivered one");
      assert.ok(!replayed.includes(fine));

      // Nothing failed is left in that room: a new replay has nothing to do, and is completed at once.
      const empty = await app.api<ReplayStarted>("POST", "/v2/analytics/webhooks/replay", {
        room_id: room,
        event_names: ["peer.leave.success"],
      });
      assert.deepEqual(empty.body.filters.event_types, ["peer.leave.success"]);
      const done = await get<ReplayStatus>(`/v2/analytics/webhooks/replay/${empty.body.workflow_id}`);
      assert.deepEqual([done.body.status, done.body.progress.total], ["completed", 0]);

      // While a replay runs (the dispatcher paused here), the same filters answer already_running with its id.
      receiver.answer(500);
      const c = await deliver("peer.join.success", { room_id: room });
      await app.ctx.dispatcher.stop();
      try {
        const range = { room_id: room, start_time: new Date(Date.now() - 60_000).toISOString(), end_time: new Date().toISOString() };
        const first = await app.api<ReplayStarted>("POST", "/v2/analytics/webhooks/replay", range);
        assert.equal(first.body.status, "started");
        const again = await app.api<ReplayStarted>("POST", "/v2/analytics/webhooks/replay", range);
        assert.deepEqual([again.body.status, again.body.workflow_id], ["already_running", first.body.workflow_id]);
        const running = await get<ReplayStatus>(`/v2/analytics/webhooks/replay/${first.body.workflow_id}`);
        assert.deepEqual([running.body.status, running.body.progress], ["Running", { total: 1, completed: 0, failed: 0 }]);
        app.ctx.dispatcher.start();
        const finished = await until(
          async () => {
            const st = await get<ReplayStatus>(`/v2/analytics/webhooks/replay/${first.body.workflow_id}`);
            return st.body.status !== "Running" && st.body;
          },
          "the paused replay to finish",
          10_000,
        );
        assert.deepEqual([finished.status, finished.result.completed], ["completed", 1]);
        assert.equal(receiver.requests.at(-1)?.headers["x-tapedeck-event-id"], c);
      } finally {
        app.ctx.dispatcher.start();
      }

      const missing = await get<ApiError>("/v2/analytics/webhooks/replay/webhook-replay-nope");
      assert.equal(missing.status, 404);
      assert.equal(missing.body.message, "workflow not found");
      for (const body of [{ status: "pending" }, { limit: 50_001 }, { event_names: ["track.add.success"] }, { extra: 1 }]) {
        assert.equal((await app.api<ApiError>("POST", "/v2/analytics/webhooks/replay", body)).status, 400, JSON.stringify(body));
      }
      const old = await app.api<ApiError>("POST", "/v2/analytics/webhooks/replay", {
        start_time: new Date(Date.now() - 40 * 86_400_000).toISOString(),
      });
      assert.deepEqual([old.status, old.body.message], [400, "start_time must be within the last 30 days"]);
    });
  });
}
