import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { newObjectId } from "../../src/ids.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { DIALECTS } from "../support/db.ts";
import type { ApiError, ListPage, LiveStream, LiveStreamStopPage, Recording, Room, Session, Template } from "../support/api-types.ts";
import { joinAs } from "../support/signal-client.ts";

// The answers of the REST API against 100ms's own samples (100mslive/100ms-docs,
// docs/server-side/v2/api-reference/**): the keys each sample answer has, and where 100ms's text and
// samples disagree, the reading tapedeck chose (docs/choices.md). The keys checked are copied from the
// samples, not from tapedeck's output. No recorder runs here (roles api and sfu), so recordings stay
// `starting`; a peer joins over signalling when a test needs a session in progress.

/** The keys of 100ms's sample answers. */
const SAMPLE_KEYS = {
  // Rooms/create-via-api.mdx
  roomCreate: [
    "id",
    "name",
    "enabled",
    "description",
    "customer_id",
    "app_id",
    "recording_info",
    "template_id",
    "template",
    "region",
    "created_at",
    "updated_at",
  ],
  // Rooms/disable-or-enable.mdx (its `recording` is the legacy name of recording_info; see docs/choices.md)
  roomDisable: [
    "id",
    "name",
    "enabled",
    "description",
    "customer_id",
    "recording_source_template",
    "enabled_source_template",
    "template_id",
    "template",
    "region",
    "created_at",
    "updated_at",
    "customer",
    "large_room",
  ],
  // policy/retrieve-a-template.mdx, list-templates.mdx, create-template-via-api.mdx, update-a-template.mdx
  template: ["id", "name", "customerId", "roles", "settings", "destinations", "createdAt", "updatedAt", "_id", "customer"],
  // recordings/start-recording-for-room.mdx (and stop, stop-room, pause: the same keys)
  recording: [
    "id",
    "room_id",
    "session_id",
    "status",
    "created_at",
    "started_at",
    "updated_at",
    "stopped_at",
    "meeting_url",
    "destination",
    "started_by",
    "stopped_by",
    "asset_types",
    "recording_assets",
  ],
  // live-streams/start-live-stream-for-room.mdx, list-all-live-streams.mdx
  liveStream: [
    "id",
    "room_id",
    "session_id",
    "status",
    "meeting_url",
    "playback",
    "recording",
    "destination",
    "created_at",
    "started_at",
    "updated_at",
    "started_by",
    "stopped_at",
    "stopped_by",
    "recording_assets",
  ],
};

const hasKeys = (obj: object, keys: string[], what: string) => {
  const missing = keys.filter((k) => !(k in obj));
  assert.deepEqual(missing, [], `${what} lacks ${missing.join(", ")}: ${JSON.stringify(obj)}`);
};

for (const dialect of DIALECTS)
  describe(`100ms answer shapes (${dialect})`, () => {
    let app: TestApp;
    before(async () => {
      app = await startTestApp({ dialect, env: { TAPEDECK_ROLES: "api,sfu" } });
    });
    after(async () => app?.close());

    test("room: the create sample's keys; recording_info an object when the room follows its template; unset settings left out", async () => {
      const room = await app.v2.createRoom({ name: "shape-room", description: "This is a sample description for the room" });
      hasKeys(room, SAMPLE_KEYS.roomCreate, "create");
      assert.deepEqual(room.recording_info, { enabled: false }, "the create sample: recording_info {enabled: false}");
      assert.equal(room.recording_source_template, true);
      assert.equal(room.enabled_source_template, true);
      assert.equal(room.customer, room.customer_id);
      for (const k of ["size", "max_duration_seconds", "webhook", "polls"]) assert.ok(!(k in room), `${k} is left out when never set`);
      hasKeys(await app.v2.getRoom(room.id), SAMPLE_KEYS.roomCreate, "get");

      const disabled = await app.v2.ok<Room>("POST", `/v2/rooms/${room.id}`, { enabled: false });
      hasKeys(disabled, SAMPLE_KEYS.roomDisable, "disable");
      assert.equal(disabled.enabled, false);

      // The update sample: the room's own recording_info decouples it from the template.
      const updated = await app.v2.ok<Room>("POST", `/v2/rooms/${room.id}`, {
        enabled: true,
        recording_info: { enabled: true },
        max_duration_seconds: 10000,
        polls: ["631b2654f771854d9bf633dg"],
        webhook: { url: "https://example-webhook.com/webhook", headers: { "my-custom-header": "value" } },
      });
      assert.deepEqual(
        [updated.recording_source_template, updated.enabled_source_template, updated.recording_info],
        [false, false, { enabled: true }],
      );
      assert.equal(updated.max_duration_seconds, 10000);
      assert.deepEqual(updated.polls, ["631b2654f771854d9bf633dg"]);
      assert.deepEqual(updated.webhook, { url: "https://example-webhook.com/webhook", headers: { "my-custom-header": "value" } });
      const again = await app.v2.ok<Room>("POST", `/v2/rooms/${room.id}`, { recording_info: null, webhook: null, polls: [] });
      assert.deepEqual(again.recording_info, { enabled: false }, "back to the template's");
      assert.ok(!("webhook" in again) && !("polls" in again));

      // A template that makes SFU recordings: a room following it shows recording_info.enabled true.
      const tpl = await app.v2.createTemplate({
        name: "shape-tracks",
        recordings: [{ name: "default", role: "host", trackRecording: { enabled: true } }],
      });
      const follows = await app.v2.createRoom({ name: "shape-follows", template_id: tpl.id });
      assert.deepEqual([follows.recording_source_template, follows.recording_info], [true, { enabled: true }]);
      const list = await app.v2.ok<ListPage<Room>>("GET", "/v2/rooms?name=shape-follows");
      assert.deepEqual(list.data[0].recording_info, { enabled: true });
    });

    test("template: every answer has the samples' keys; the whole object as GET answers it can be posted back", async () => {
      const made = await app.v2.createTemplate({ name: "shape-template" });
      hasKeys(made, SAMPLE_KEYS.template, "create");
      assert.deepEqual([made._id, made.customerId, made.customer], [made.id, app.ctx.identity.customerId, app.ctx.identity.customerId]);
      assert.equal(made.customer_id, made.customerId, "customer_id, the object table's name, is there too");
      assert.ok(!("created_at" in made) && !("updated_at" in made), "no snake_case timestamps: no 100ms answer has them");
      assert.equal(made.createdAt, made.updatedAt);

      // 100ms's update: GET the template, change it, POST the whole object.
      const got = await app.v2.getTemplate(made.id);
      hasKeys(got, SAMPLE_KEYS.template, "get");
      const posted = await app.api<Template>("POST", `/v2/templates/${made.id}`, { ...got, name: "shape-template-renamed" });
      assert.equal(posted.status, 200, JSON.stringify(posted.body));
      hasKeys(posted.body, SAMPLE_KEYS.template, "update");
      assert.equal(posted.body.name, "shape-template-renamed");
      assert.equal(posted.body.createdAt, made.createdAt, "createdAt sent back is ignored");
      assert.ok(posted.body.updatedAt >= made.updatedAt);

      // The list sample: newest first.
      const newer = await app.v2.createTemplate({ name: "shape-template-newer" });
      const list = await app.v2.ok<ListPage<Template>>("GET", "/v2/templates?limit=100");
      for (const t of list.data) hasKeys(t, SAMPLE_KEYS.template, "list item");
      const ids = list.data.map((t) => t.id);
      assert.ok(ids.indexOf(newer.id) < ids.indexOf(made.id), "newest first");
      assert.deepEqual(ids, [...ids].sort().reverse());
    });

    test("sessions: newest first; without `active`, finished sessions are listed too; after and before are inclusive", async () => {
      const room = await app.v2.createRoom({ name: "shape-sessions" });
      const times = ["2026-01-10T10:00:00.000Z", "2026-01-11T10:00:00.000Z", "2026-01-12T10:00:00.000Z"];
      const ids: string[] = [];
      for (const [i, t] of times.entries()) {
        const id = newObjectId(Date.parse(t));
        ids.push(id);
        await app.ctx.db
          .insertInto("sessions")
          .values({
            id,
            room_id: room.id,
            customer_id: app.ctx.identity.customerId,
            app_id: app.ctx.identity.appId,
            active: i === 2 ? 1 : 0,
            created_at: t,
            updated_at: t,
            ended_at: i === 2 ? null : t,
          })
          .execute();
      }
      const all = await app.v2.listSessions({ room_id: room.id });
      assert.deepEqual(
        all.data.map((s) => [s.id, s.active]),
        [
          [ids[2], true],
          [ids[1], false],
          [ids[0], false],
        ],
        "both of 100ms's list samples hold inactive sessions without a filter, newest first",
      );
      assert.deepEqual(
        (await app.v2.listSessions({ room_id: room.id, active: true })).data.map((s: Session) => s.id),
        [ids[2]],
      );
      const span = await app.v2.listSessions({ room_id: room.id, after: times[0], before: times[1] });
      assert.deepEqual(
        span.data.map((s) => s.id),
        [ids[1], ids[0]],
        "a session created exactly at `before` (or `after`) is in",
      );
      const oldest = await app.v2.listSessions({ room_id: room.id, order: "asc", limit: 2 });
      assert.deepEqual(
        oldest.data.map((s) => s.id),
        [ids[0], ids[1]],
      );
      assert.equal(oldest.last, ids[1]);
    });

    test("recording: asset_types and recording_assets on every answer; the session in progress; the built-in page's meeting_url", async () => {
      const room = await app.v2.createRoom({ name: "shape-recording" });
      const peer = await joinAs(app, room.id, "host", "Ada");
      try {
        const session = (await app.v2.listSessions({ room_id: room.id, active: true })).data[0];
        assert.ok(session, "the peer's session is in progress");
        const started = await app.v2.startRecording(room.id, {});
        hasKeys(started, SAMPLE_KEYS.recording, "start");
        assert.equal(started.session_id, session.id, "the session in progress at start");
        assert.equal(started.meeting_url, `${app.ctx.config.publicUrl}/room/${room.id}?skip_preview=true`);
        assert.deepEqual([started.asset_types, started.recording_assets], [["room-composite", "chat"], null]);

        for (const action of ["pause", "resume"]) {
          const r = await app.v2.ok<Recording>("POST", `/v2/recordings/room/${room.id}/${action}`, {});
          hasKeys(r, SAMPLE_KEYS.recording, action);
          assert.equal(r.session_id, session.id);
          assert.deepEqual(r.asset_types, ["room-composite", "chat"]);
        }
        const list = await app.v2.listRecordings({ room_id: room.id });
        hasKeys(list.data[0], SAMPLE_KEYS.recording, "list item");
        assert.equal(list.data[0].meeting_url, started.meeting_url);
        const stopped = await app.v2.ok<ListPage<Recording>>("POST", `/v2/recordings/room/${room.id}/stop`, {});
        hasKeys(stopped.data[0], SAMPLE_KEYS.recording, "stop-room item");
        assert.equal(stopped.last, started.id, "the stop-room sample: last is the last recording stopped");
        const one = await app.v2.stopRecording(started.id);
        hasKeys(one, SAMPLE_KEYS.recording, "stop");

        // A caller's own page is shown as given.
        const other = await app.v2.createRoom({ name: "shape-recording-url" });
        const own = await app.v2.startRecording(other.id, { meeting_url: `https://example.com/meeting/${other.id}` });
        assert.equal(own.meeting_url, `https://example.com/meeting/${other.id}`);
        assert.equal(own.session_id, "", "no session in progress: empty, as 100ms shows unset ids");
        await app.v2.stopRecording(own.id);
      } finally {
        peer.c.close();
      }
    });

    test("live stream: the session in progress, the built-in page's meeting_url, recording_assets on every answer", async () => {
      const room = await app.v2.createRoom({ name: "shape-live" });
      const peer = await joinAs(app, room.id, "host", "Bo");
      try {
        const session = (await app.v2.listSessions({ room_id: room.id, active: true })).data[0];
        const started = await app.v2.startLiveStream(room.id, {});
        hasKeys(started, SAMPLE_KEYS.liveStream, "start");
        assert.equal(started.session_id, session.id);
        assert.equal(started.meeting_url, `${app.ctx.config.publicUrl}/room/${room.id}?skip_preview=true`);
        assert.equal(started.recording_assets, null);
        const list = await app.v2.ok<ListPage<LiveStream>>("GET", `/v2/live-streams?room_id=${room.id}`);
        hasKeys(list.data[0], SAMPLE_KEYS.liveStream, "list item");
        const stopped = await app.v2.ok<LiveStreamStopPage>("POST", `/v2/live-streams/room/${room.id}/stop`, {});
        hasKeys(stopped.data[0], SAMPLE_KEYS.liveStream, "stop-room item");
        assert.equal(stopped.last, started.id);
      } finally {
        peer.c.close();
      }
    });

    test("an id that is not an id: the same 404 as an unknown one, on every resource", async () => {
      const paths: Array<[string, string, string]> = [
        ["GET", "/v2/rooms/not-an-id", "room not found"],
        ["POST", "/v2/rooms/XYZ", "room not found"],
        ["GET", "/v2/sessions/123", "session not found"],
        ["GET", "/v2/templates/default", "template not found"],
        ["GET", "/v2/templates/abc/settings", "template not found"],
        ["GET", "/v2/recordings/nope", "recording not found"],
        ["POST", "/v2/recordings/room/nope/start", "room not found"],
        ["GET", "/v2/live-streams/nope", "live stream not found"],
        ["GET", "/v2/recording-assets/nope", "recording asset not found"],
      ];
      for (const [method, path, message] of paths) {
        const r = await app.api<ApiError>(method, path, method === "POST" ? {} : undefined);
        assert.equal(r.status, 404, `${method} ${path}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.message, message, path);
        assert.match(r.body.details[0], /is not a 24-character hex id/, path);
      }
      // In a query or a body, an id that is not one is a 400 naming the field.
      const q = await app.api<ApiError>("GET", "/v2/sessions?room_id=nope");
      assert.equal(q.status, 400);
      assert.match(q.body.details[0], /^room_id: /);
    });

    test("error texts: 100ms's for max_duration_seconds and a missing bucket location", async () => {
      const cases: Array<[string, unknown, string]> = [
        ["/v2/rooms", { max_duration_seconds: 119 }, "Invalid body param: max_duration_seconds less than 120 seconds"],
        ["/v2/rooms", { max_duration_seconds: 43201 }, "Invalid body param: max_duration_seconds greater than 43200 seconds"],
        ["/v2/rooms", { recording_info: { upload_info: { type: "s3" } } }, "Bucket location is missing"],
        [
          "/v2/templates",
          { name: "shape-no-bucket", settings: { recording: { upload: { type: "gs", prefix: "x" } } } },
          "Bucket location is missing",
        ],
      ];
      for (const [path, body, message] of cases) {
        const r = await app.api<ApiError>("POST", path, body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.deepEqual([r.body.code, r.body.message, r.body.details[0]], [400, message, message], JSON.stringify(body));
      }
      const ok = await app.api<Room>("POST", "/v2/rooms", { name: "shape-bounds", max_duration_seconds: 120 });
      assert.equal(ok.body.max_duration_seconds, 120);
      assert.equal(
        (await app.api<Room>("POST", `/v2/rooms/${ok.body.id}`, { max_duration_seconds: 43200 })).body.max_duration_seconds,
        43200,
      );
    });
  });
