import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startTestApp, type TestApp } from "../support/app.ts";
import type { ApiError, ListPage, Room, Template } from "../support/api-types.ts";
import { until } from "../support/wait.ts";
import { recordingControl } from "../../src/sfu/hms/recording-control.ts";

// The external-streams API (RTMP out, 100ms's /v2/external-streams) as a caller meets it, without a
// worker (roles api and sfu only), so a started stream stays `starting`: what is accepted, what is
// refused and how (URLs, their hosts under the outbound policy, resolution, destination), the object's
// shape as 100ms documents it, stop by id and by room, list filters, and the template's rtmpDestinations
// (defaults and autoStart). The stream itself is tested in test/e2e/rtmp-out.test.ts.

interface ExternalStream {
  id: string;
  room_id: string;
  session_id: string;
  status: string;
  destination: string;
  rtmp_urls: string[];
  meeting_url: string;
  recording: boolean;
  resolution: { width: number; height: number };
  created_at: string;
  started_at: string | null;
  stopped_at: string | null;
  updated_at: string;
  started_by: string;
  stopped_by: string;
  recording_assets: unknown[] | null;
  asset_types: string[] | null;
  stop_reason?: string;
}

const URL_A = "rtmp://a.rtmp.example.com/live2/k0jv-329m-1y7f-ktth-ck48";
const URL_B = "rtmps://b.example.com:443/app/another-key";

describe("external streams API (RTMP out)", () => {
  let app: TestApp;
  let roomId: string;

  before(async () => {
    app = await startTestApp({ env: { TAPEDECK_ROLES: "api,sfu", TAPEDECK_OUTBOUND_DENY: "10.0.0.0/8" } });
    roomId = (await app.api<Room>("POST", "/v2/rooms", { name: "external-streams-api" })).body.id;
  });
  after(async () => app?.close());

  const start = <T = ExternalStream>(body: unknown, room = roomId) => app.api<T>("POST", `/v2/external-streams/room/${room}/start`, body);

  test("bad requests are refused with what is wrong (stream keys never echoed in messages), and nothing is started", async () => {
    const cases: Array<[unknown, string | RegExp, RegExp?]> = [
      [{}, "rtmp_urls is required"],
      [{ rtmp_urls: [] }, "rtmp_urls invalid", /at least one/],
      [{ rtmp_urls: "rtmp://x/app/key" }, /Invalid body param: rtmp_urls/],
      [
        { rtmp_urls: ["http://example.com/app/secretkey"] },
        "rtmp_urls invalid",
        /rtmp_urls\[0\] \(http:\/\/…\) must be an rtmp:\/\/ or rtmps:\/\/ URL/,
      ],
      [{ rtmp_urls: ["not a url"] }, "rtmp_urls invalid", /spaces or control characters/],
      [{ rtmp_urls: ["rtmp://example.com/secretkey"] }, "rtmp_urls invalid", /an application and a stream key/],
      [{ rtmp_urls: ["rtmp://user:pw@example.com/app/secretkey"] }, "rtmp_urls invalid", /user:password/],
      [{ rtmp_urls: [URL_A, URL_A] }, "rtmp_urls invalid", /same URL twice/],
      [
        { rtmp_urls: [URL_A, URL_B, "rtmp://c.example.com/app/k3", "rtmp://d.example.com/app/k4"] },
        "rtmp_urls invalid",
        /holds 4 URLs; at most 3/,
      ],
      [{ rtmp_urls: [URL_A], resolution: { width: 400, height: 300 } }, "Resolution not supported"],
      [{ rtmp_urls: [URL_A], resolution: { width: 1920, height: 1920 } }, "Resolution not supported"],
      [{ rtmp_urls: [URL_A], recording: "yes" }, /Invalid body param: recording/],
      [{ rtmp_urls: [URL_A], destination: "nope" }, "destination not found"],
      [{ rtmp_urls: [URL_A], meeting_url: "file:///etc/passwd" }, /meeting_url must be an http\(s\) URL/],
      [{ rtmp_urls: [URL_A], unknown_field: 1 }, /Invalid body param/],
      // The outbound policy: cloud metadata (built in) and a configured deny list.
      [
        { rtmp_urls: ["rtmp://169.254.169.254/live/secretkey"] },
        /^rtmp_urls\[0\] rtmp:\/\/169\.254\.169\.254\/live\/\*\*\* goes to 169\.254\.169\.254, refused by the outbound policy \(link-local/,
      ],
      [
        { rtmp_urls: [URL_A, "rtmp://10.1.2.3:1935/live/secretkey"] },
        /^rtmp_urls\[1\] rtmp:\/\/10\.1\.2\.3:1935\/live\/\*\*\* goes to 10\.1\.2\.3, refused by the outbound policy \(TAPEDECK_OUTBOUND_DENY entry 10\.0\.0\.0\/8\)/,
      ],
    ];
    for (const [body, message, detail] of cases) {
      const res = await start<ApiError>(body);
      assert.equal(res.status, 400, `${JSON.stringify(body)} → ${JSON.stringify(res.body)}`);
      if (typeof message === "string") assert.equal(res.body.message, message, JSON.stringify(res.body));
      else assert.match(res.body.message, message);
      assert.ok(Array.isArray(res.body.details) && res.body.details.length > 0, JSON.stringify(res.body));
      if (detail) assert.match(res.body.details.join("\n"), detail);
      assert.ok(!JSON.stringify(res.body).includes("secretkey"), `no stream key in ${JSON.stringify(res.body)}`);
    }
    const list = await app.api<ListPage<ExternalStream>>("GET", `/v2/external-streams?room_id=${roomId}`);
    assert.deepEqual(list.body.data, []);
    assert.equal((await start({ rtmp_urls: [URL_A] }, "000000000000000000000000")).status, 404);
  });

  test("a start answers 100ms's object; one stream per room; get; stop by id, and by room", async () => {
    const res = await start({ rtmp_urls: [URL_A, URL_B], recording: true, resolution: { width: 1280, height: 720 } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const s = res.body;
    // The fields of 100ms's sample, in its shape.
    for (const key of [
      "id",
      "room_id",
      "session_id",
      "status",
      "destination",
      "rtmp_urls",
      "meeting_url",
      "recording",
      "resolution",
      "created_at",
      "started_at",
      "stopped_at",
      "updated_at",
      "started_by",
      "stopped_by",
      "recording_assets",
    ])
      assert.ok(key in s, `${key} in ${JSON.stringify(s)}`);
    assert.equal(s.room_id, roomId);
    assert.equal(s.status, "starting");
    assert.deepEqual(s.rtmp_urls, [URL_A, URL_B], "the URLs as given, as 100ms answers them");
    assert.equal(s.recording, true);
    assert.deepEqual(s.resolution, { width: 1280, height: 720 });
    assert.equal(s.recording_assets, null);
    assert.deepEqual(s.asset_types, ["room-composite", "chat"], "what a recorded stream will make");
    assert.equal(s.meeting_url, `${app.url}/room/${roomId}?skip_preview=true`, "the built-in page, as every recording shows it");
    assert.equal(s.started_by, "");

    const again = await start<ApiError>({ rtmp_urls: [URL_A] });
    assert.equal(again.status, 409, JSON.stringify(again.body));
    assert.equal(again.body.message, "external stream already started");

    const got = await app.api<ExternalStream>("GET", `/v2/external-streams/${s.id}`);
    assert.equal(got.status, 200);
    assert.deepEqual(got.body.rtmp_urls, [URL_A, URL_B]);
    assert.equal((await app.api<ApiError>("GET", "/v2/external-streams/000000000000000000000000")).status, 404);
    // Not an external stream: a browser recording's id is not found here.
    const beam = await app.api<{ id: string }>("POST", `/v2/recordings/room/${roomId}/start`, {});
    assert.equal(beam.status, 200, "a browser recording and an external stream can run side by side");
    assert.equal((await app.api<ApiError>("GET", `/v2/external-streams/${beam.body.id}`)).status, 404);

    const stop = await app.api<ExternalStream>("POST", `/v2/external-streams/${s.id}/stop`, {});
    assert.equal(stop.status, 200, JSON.stringify(stop.body));
    assert.equal(stop.body.stop_reason, "client request");
    assert.equal((await app.api<ApiError>("POST", "/v2/external-streams/000000000000000000000000/stop", {})).status, 404);

    // By room: every active one, in 100ms's page shape; none left → 404.
    const other = (await app.api<Room>("POST", "/v2/rooms", { name: "external-streams-api-2" })).body.id;
    const s2 = (await start({ rtmp_urls: [URL_B] }, other)).body;
    const byRoom = await app.api<{ error: string; data: ExternalStream[]; limit: number; last: string }>(
      "POST",
      `/v2/external-streams/room/${other}/stop`,
      {},
    );
    assert.equal(byRoom.status, 200, JSON.stringify(byRoom.body));
    assert.deepEqual(
      byRoom.body.data.map((x) => [x.id, x.stop_reason]),
      [[s2.id, "client request"]],
    );
    assert.equal(byRoom.body.limit, 1);
    assert.equal(byRoom.body.last, "");
    await app.api("POST", `/v2/recordings/room/${roomId}/stop`, {});
  });

  test("list: 100ms's page, filters by room_id, session_id and status; an unknown value is a 400", async () => {
    const room = (await app.api<Room>("POST", "/v2/rooms", { name: "external-streams-list" })).body.id;
    const s = (await start({ rtmp_urls: [URL_A] }, room)).body;
    const page = await app.api<ListPage<ExternalStream>>("GET", `/v2/external-streams?room_id=${room}`);
    assert.equal(page.status, 200);
    assert.deepEqual(
      page.body.data.map((x) => x.id),
      [s.id],
    );
    assert.equal(page.body.limit, 10);
    const starting = await app.api<ListPage<ExternalStream>>("GET", `/v2/external-streams?room_id=${room}&status=starting`);
    assert.deepEqual(
      starting.body.data.map((x) => x.id),
      [s.id],
    );
    const failed = await app.api<ListPage<ExternalStream>>("GET", `/v2/external-streams?room_id=${room}&status=failed`);
    assert.deepEqual(failed.body.data, []);
    const session = await app.api<ListPage<ExternalStream>>("GET", "/v2/external-streams?session_id=000000000000000000000000");
    assert.deepEqual(session.body.data, []);
    for (const q of ["status=bogus", "limit=0", "limit=101", "room_id=nope", "session_id=x"]) {
      const res = await app.api<ApiError>("GET", `/v2/external-streams?${q}`);
      assert.equal(res.status, 400, `${q} → ${JSON.stringify(res.body)}`);
    }
    // Pages: `last` goes back as `start`.
    const room2 = (await app.api<Room>("POST", "/v2/rooms", { name: "external-streams-list-2" })).body.id;
    const s2 = (await start({ rtmp_urls: [URL_B] }, room2)).body;
    const first = await app.api<ListPage<ExternalStream>>("GET", "/v2/external-streams?limit=1&status=starting");
    assert.equal(first.body.data.length, 1);
    assert.ok(first.body.last);
    const next = await app.api<ListPage<ExternalStream>>("GET", `/v2/external-streams?limit=100&status=starting&start=${first.body.last}`);
    assert.ok(!next.body.data.some((x) => x.id === first.body.data[0].id));
    assert.ok([s.id, s2.id].every((id) => [...first.body.data, ...next.body.data].some((x) => x.id === id)));
    await app.api("POST", `/v2/external-streams/room/${room}/stop`, {});
    await app.api("POST", `/v2/external-streams/room/${room2}/stop`, {});
  });

  test("the template's rtmpDestinations: its URLs, size and recordingEnabled are the defaults; autoStart starts on the first visible join", async () => {
    const bad = await app.api<ApiError>("POST", "/v2/templates", {
      name: "rtmp-bad-template",
      destinations: { rtmpDestinations: { yt: { name: "yt", rtmpUrls: ["http://example.com/app/key"] } } },
    });
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    const template = await app.api<Template>("POST", "/v2/templates", {
      name: "rtmp-template",
      roles: { host: { name: "host", publishParams: { allowed: ["audio", "video"] } } },
      destinations: {
        rtmpDestinations: {
          yt: { name: "yt", rtmpUrls: [URL_A], width: 1080, height: 1920, recordingEnabled: true, maxDuration: 1800, autoStart: true },
        },
      },
    });
    assert.equal(template.status, 200, JSON.stringify(template.body));
    const room = (await app.api<Room>("POST", "/v2/rooms", { name: "rtmp-template-room", template_id: template.body.id })).body;
    const s = await start({}, room.id);
    assert.equal(s.status, 200, JSON.stringify(s.body));
    assert.deepEqual(s.body.rtmp_urls, [URL_A]);
    assert.deepEqual(s.body.resolution, { width: 1080, height: 1920 });
    assert.equal(s.body.recording, true);
    assert.equal((await start<ApiError>({ destination: "other" }, room.id)).status, 400);
    await app.api("POST", `/v2/external-streams/${s.body.id}/stop`, {});
    await until(async () => (await app.api<ExternalStream>("GET", `/v2/external-streams/${s.body.id}`)).body.stop_reason, "the stop");

    // autoStart: the SFU's "peer.joined" of a visible peer starts one (a hidden recorder's join does not).
    const room2 = (await app.api<Room>("POST", "/v2/rooms", { name: "rtmp-autostart-room", template_id: template.body.id })).body;
    const rows = await app.ctx.db.selectFrom("rooms").selectAll().where("id", "=", room2.id).executeTakeFirstOrThrow();
    const tpl = await app.ctx.db.selectFrom("templates").selectAll().where("id", "=", template.body.id).executeTakeFirstOrThrow();
    app.ctx.events.emit("peer.joined", { room: rows, template: tpl, peerId: "recorder", hidden: true });
    app.ctx.events.emit("peer.joined", { room: rows, template: tpl, peerId: "p1", hidden: false });
    const list = await until(async () => {
      const page = await app.api<ListPage<ExternalStream>>("GET", `/v2/external-streams?room_id=${room2.id}`);
      return page.body.data.length > 0 && page.body.data;
    }, "the auto-started external stream");
    assert.equal(list.length, 1);
    assert.deepEqual(list[0].rtmp_urls, [URL_A]);
    assert.equal(list[0].destination, "yt");
    app.ctx.events.emit("peer.joined", { room: rows, template: tpl, peerId: "p2", hidden: false });
    await app.api("POST", `/v2/external-streams/room/${room2.id}/stop`, {});
    const after = await app.api<ListPage<ExternalStream>>("GET", `/v2/external-streams?room_id=${room2.id}`);
    assert.equal(after.body.data.length, 1, "a second join does not start a second stream");
  });

  test("the 100ms client SDK's startRTMPOrRecording with rtmp_urls starts an external stream; stopRTMPAndRecording stops it", async () => {
    const room = (await app.api<Room>("POST", "/v2/rooms", { name: "external-streams-sdk" })).body.id;
    const control = recordingControl(app.ctx);
    const caller = { roomId: room, role: "host", peerId: "peer-1" };
    await assert.rejects(control("rtmp-start", { rtmp_urls: ["ftp://x/app/key"] }, caller), /rtmp_urls invalid/);
    assert.deepEqual(
      await control("rtmp-start", { rtmp_urls: [URL_A], record: true, resolution: { width: 854, height: 480 } }, caller),
      {},
    );
    const [s] = (await app.api<ListPage<ExternalStream>>("GET", `/v2/external-streams?room_id=${room}`)).body.data;
    assert.deepEqual([s.rtmp_urls, s.recording, s.resolution, s.started_by], [[URL_A], true, { width: 854, height: 480 }, "peer-1"]);
    assert.deepEqual(await control("rtmp-stop", {}, { ...caller, peerId: "peer-2" }), {});
    const stopped = (await app.api<ExternalStream>("GET", `/v2/external-streams/${s.id}`)).body;
    assert.deepEqual([stopped.stop_reason, stopped.stopped_by], ["client request", "peer-2"]);
  });
});
