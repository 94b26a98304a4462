import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { resolutionProblems } from "../../src/recorders/browser/beam.service.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import type { ApiError, ListPage, Recording, Room, Template } from "../support/api-types.ts";

// The browser-recording API as a caller meets it, without a worker (roles api and sfu only), so every
// started recording stays `starting`: what is accepted, what is refused and how, and what stop, pause
// and resume answer. The recording itself is tested end to end in test/e2e/beam.test.ts.

describe("recordings API (browser composite)", () => {
  let app: TestApp;
  let roomId: string;

  before(async () => {
    app = await startTestApp({ env: { TAPEDECK_ROLES: "api,sfu" } });
    const room = await app.api<Room>("POST", "/v2/rooms", { name: "recordings-api" });
    roomId = room.body.id;
  });
  after(async () => app?.close());

  const start = <T = Recording>(body: unknown, room = roomId) => app.api<T>("POST", `/v2/recordings/room/${room}/start`, body);

  test("resolution bounds: 100ms's beam limits, landscape and portrait, even sides", () => {
    assert.deepEqual(resolutionProblems(1280, 720), []);
    assert.deepEqual(resolutionProblems(1920, 1080), []);
    assert.deepEqual(resolutionProblems(1080, 1920), []);
    assert.deepEqual(resolutionProblems(720, 1280), []);
    assert.equal(resolutionProblems(1920, 1920).length, 1);
    assert.equal(resolutionProblems(400, 720).length, 1);
    assert.equal(resolutionProblems(1281, 720).length, 1);
    assert.equal(resolutionProblems(2560, 1440).length, 2);
  });

  test("bad requests are refused with the field that is wrong, and nothing is started", async () => {
    const cases: Array<[unknown, string]> = [
      [{ resolution: { width: 3840, height: 2160 } }, "Resolution not supported"],
      [{ resolution: { width: 1281, height: 720 } }, "Resolution not supported"],
      [{ resolution: { width: "1280", height: 720 } }, "Invalid body param: resolution.width"],
      [{ meeting_url: "file:///etc/passwd" }, "Invalid body param: meeting_url: meeting_url must be an http(s) URL"],
      [{ meeting_url: "javascript:alert(1)" }, "Invalid body param: meeting_url"],
      [{ layout: "mosaic" }, "Invalid body param: layout"],
      [{ roles: ["nobody"] }, "unknown role"],
      [{ destination: "nowhere" }, "destination not found"],
      [{ transcription: { enabled: true } }, "transcription is not supported"],
      [{ audio_only: "yes" }, "Invalid body param: audio_only"],
      [{ surprise: 1 }, "Invalid body param"],
    ];
    for (const [body, message] of cases) {
      const res = await start<ApiError>(body);
      assert.equal(res.status, 400, `${JSON.stringify(body)} → ${JSON.stringify(res.body)}`);
      assert.ok(String(res.body.message).startsWith(message), `${JSON.stringify(body)}: ${res.body.message}`);
      assert.ok(Array.isArray(res.body.details) && res.body.details.length > 0, "details say what to fix");
    }
    const other = await app.api<Room>("POST", "/v2/rooms", { name: "recordings-api-other" });
    const wrongRoom = await start<ApiError>({ meeting_url: `http://localhost:8080/room/${other.body.id}?skip_preview=true` });
    assert.equal(wrongRoom.status, 400);
    assert.match(wrongRoom.body.details[0], /not of/);
    assert.equal((await start({}, "0123456789abcdef01234567")).status, 404);
    assert.equal((await start({}, "not-a-room")).status, 404, "an id that is not an id names no room");
    const list = await app.api<ListPage<Recording>>("GET", `/v2/recordings?room_id=${roomId}`);
    assert.deepEqual(list.body.data, [], "no recording was created by a refused request");
  });

  test("start answers `starting` with the defaults; a second start for the room is refused until it stops", async () => {
    const res = await start({ roles: ["host"] });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.status, "starting");
    assert.equal(res.body.room_id, roomId);
    assert.equal(res.body.started_by, "");
    // 100ms's start sample: the types it will make, no assets yet; the built-in page as the meeting URL.
    assert.deepEqual(res.body.asset_types, ["room-composite", "chat"]);
    assert.equal(res.body.recording_assets, null);
    assert.equal(res.body.meeting_url, `${app.ctx.config.publicUrl}/room/${roomId}?skip_preview=true`);
    assert.equal(res.body.session_id, "", "no session in progress");
    const row = await app.ctx.db.selectFrom("recordings").selectAll().where("id", "=", res.body.id).executeTakeFirstOrThrow();
    const d = JSON.parse(row.details);
    assert.deepEqual([d.width, d.height, d.layout, d.roles, d.audio_only], [1280, 720, "grid", ["host"], false]);
    assert.equal(d.max_duration_s, 4 * 3600, "maxDuration defaults to 4 h");

    const again = await start<ApiError>({});
    assert.equal(again.status, 409);
    assert.equal(again.body.message, "beam already started");
    assert.match(again.body.details[0], new RegExp(res.body.id));

    const paused = await app.api<Recording>("POST", `/v2/recordings/room/${roomId}/pause`, {});
    assert.equal(paused.status, 200);
    assert.equal(paused.body.status, "starting");
    assert.equal(paused.body.paused, true);
    const resumed = await app.api<Recording>("POST", `/v2/recordings/room/${roomId}/resume`, {});
    assert.equal(resumed.body.paused, false);
    for (const r of [paused.body, resumed.body]) assert.deepEqual([r.asset_types, r.recording_assets], [["room-composite", "chat"], null]);

    const stopped = await app.api<ListPage<Recording>>("POST", `/v2/recordings/room/${roomId}/stop`, {});
    assert.equal(stopped.status, 200);
    assert.equal(stopped.body.data.length, 1);
    assert.equal(stopped.body.data[0].id, res.body.id);
    assert.equal(stopped.body.data[0].stop_reason, "client request");
    assert.equal(stopped.body.last, res.body.id);
    assert.deepEqual(stopped.body.data[0].asset_types, ["room-composite", "chat"]);
    const one = await app.api<Recording>("POST", `/v2/recordings/${res.body.id}/stop`, {});
    assert.equal(one.status, 200, "stopping twice is not an error");
  });

  test("stop, pause and resume of nothing answer 404 with 100ms's message", async () => {
    const room = await app.api<Room>("POST", "/v2/rooms", { name: "recordings-api-empty" });
    for (const action of ["stop", "pause", "resume"]) {
      const res = await app.api<ApiError>("POST", `/v2/recordings/room/${room.body.id}/${action}`, {});
      assert.equal(res.status, 404, action);
      assert.equal(res.body.message, "no active beam found for the passed in identifiers");
    }
    assert.equal((await app.api<Recording>("POST", "/v2/recordings/0123456789abcdef01234567/stop", {})).status, 404);
  });

  test("portrait, audio-only and a template destination are taken; a disabled room is not recorded", async () => {
    const tpl = await app.api<Template>("POST", "/v2/templates", {
      name: "beam-dest",
      destinations: { browserRecordings: { portrait: { name: "portrait", role: "guest", width: 720, height: 1280, maxDuration: 60 } } },
    });
    assert.equal(tpl.status, 200, JSON.stringify(tpl.body));
    const room = await app.api<Room>("POST", "/v2/rooms", { name: "recordings-api-portrait", template_id: tpl.body.id });
    const res = await start({ destination: "portrait", audio_only: true }, room.body.id);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const row = await app.ctx.db.selectFrom("recordings").selectAll().where("id", "=", res.body.id).executeTakeFirstOrThrow();
    const d = JSON.parse(row.details);
    assert.deepEqual([d.width, d.height, d.audio_only, d.max_duration_s], [720, 1280, true, 60]);
    assert.deepEqual(d.roles, ["host", "guest"], "the destination's role decides who is recorded: what guests subscribe to");
    await app.api<ListPage<Recording>>("POST", `/v2/recordings/room/${room.body.id}/stop`, {});

    const disabled = await app.api<Room>("POST", "/v2/rooms", { name: "recordings-api-disabled" });
    await app.api<Room>("POST", `/v2/rooms/${disabled.body.id}`, { enabled: false });
    const refused = await start<ApiError>({}, disabled.body.id);
    assert.equal(refused.status, 400);
    assert.equal(refused.body.message, "room is disabled");
  });

  test("list filters by room and status", async () => {
    const list = await app.api<ListPage<Recording>>("GET", `/v2/recordings?room_id=${roomId}&status=starting`);
    assert.equal(list.status, 200);
    assert.ok(list.body.data.every((r: { room_id: string; status: string }) => r.room_id === roomId && r.status === "starting"));
    assert.equal((await app.api<ListPage<Recording>>("GET", "/v2/recordings?status=bogus")).status, 400);
  });
});
