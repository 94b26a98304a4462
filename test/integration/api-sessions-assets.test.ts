import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { insertAsset } from "../../src/assets/asset.repository.ts";
import { beamPath, objectKey } from "../../src/domain/storage-paths.ts";
import { newObjectId, newUuid } from "../../src/ids.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import type { ApiError, ListPage, PresignedUrl, Recording, RecordingAsset, Room, Session } from "../support/api-types.ts";

// Sessions, recordings and assets are written by the SFU and recorders; here rows are put in place
// directly and read back through the API the way a user would.

describe("sessions, recordings and recording assets API", () => {
  let app: TestApp;
  let roomId: string;
  let sessionId: string;
  let peerA: string;
  let recordingId: string;
  let assetId: string;
  const fileBytes = Buffer.from("a small stand-in for an mp4 file\n".repeat(100));

  before(async () => {
    app = await startTestApp();
    roomId = (await app.api<Room>("POST", "/v2/rooms", { name: "recorded-room" })).body.id;
    sessionId = newObjectId();
    const t0 = "2026-11-24T10:00:00.000Z";
    await app.ctx.db
      .insertInto("sessions")
      .values({
        id: sessionId,
        room_id: roomId,
        customer_id: app.ctx.identity.customerId,
        app_id: app.ctx.identity.appId,
        active: 0,
        created_at: t0,
        updated_at: t0,
        ended_at: "2026-11-24T10:30:00.000Z",
      })
      .execute();
    peerA = newUuid();
    await app.ctx.db
      .insertInto("peers")
      .values([
        {
          id: peerA,
          session_id: sessionId,
          room_id: roomId,
          name: "Alice",
          role: "host",
          user_id: "u-1",
          user_data: "",
          joined_at: t0,
          left_at: "2026-11-24T10:30:00.000Z",
          leave_reason: "client request",
        },
        {
          id: newUuid(),
          session_id: sessionId,
          room_id: roomId,
          name: "Beam",
          role: "__internal_recorder",
          user_id: "",
          user_data: "",
          joined_at: t0,
          left_at: null,
          leave_reason: null,
        },
      ])
      .execute();
    recordingId = newObjectId();
    await app.ctx.db
      .insertInto("recordings")
      .values({
        id: recordingId,
        kind: "beam",
        room_id: roomId,
        session_id: sessionId,
        status: "completed",
        meeting_url: "",
        destination: "",
        started_by: "",
        stopped_by: "",
        details: "{}",
        failure: null,
        created_at: t0,
        started_at: t0,
        stopped_at: t0,
        updated_at: t0,
        stop_reason: null,
        paused: 0,
        worker: null,
        lease_until: null,
      })
      .execute();

    const key = objectKey("", app.ctx.identity.customerId, beamPath({ roomId, sessionStartedAt: t0, epoch: 1764000000000 }));
    await app.ctx.storage.internal.put(key, fileBytes, { contentType: "video/mp4" });
    const asset = await insertAsset(app.ctx.db, {
      jobId: recordingId,
      roomId,
      sessionId,
      type: "room-composite",
      path: app.ctx.storage.internal.displayPath(key),
      objectKey: key,
      location: app.ctx.storage.sealLocation(null),
      size: fileBytes.length,
      duration: 1800,
      metadata: { resolution: { width: 1280, height: 720 } },
    });
    assetId = asset.id;
  });
  after(() => app.close());

  test("a session lists its peers as a map keyed by peer id", async () => {
    const r = await app.api<Session>("GET", `/v2/sessions/${sessionId}`);
    assert.equal(r.status, 200);
    assert.equal(r.body.room_id, roomId);
    assert.equal(r.body.active, false);
    assert.equal(Object.keys(r.body.peers).length, 2);
    assert.deepEqual(r.body.peers[peerA], {
      id: peerA,
      session_id: sessionId,
      name: "Alice",
      role: "host",
      user_id: "u-1",
      joined_at: "2026-11-24T10:00:00.000Z",
      left_at: "2026-11-24T10:30:00.000Z",
    });
    const list = await app.api<ListPage<Session>>("GET", `/v2/sessions?room_id=${roomId}`);
    assert.equal(list.body.data.length, 1);
    assert.equal((await app.api<ListPage<Session>>("GET", "/v2/sessions?active=true")).body.data.length, 0);
    assert.equal((await app.api<Session>("GET", `/v2/sessions/${"d".repeat(24)}`)).status, 404);
    assert.equal((await app.api<ListPage<Session>>("GET", "/v2/sessions?room_id=nope")).status, 400);
  });

  test("a recording shows its assets, in the list too", async () => {
    const r = await app.api<Recording>("GET", `/v2/recordings/${recordingId}`);
    assert.equal(r.status, 200);
    assert.equal(r.body.status, "completed");
    assert.deepEqual(r.body.asset_types, ["room-composite"]);
    assert.equal(r.body.recording_assets?.[0].id, assetId);
    assert.ok(!("job_id" in r.body.recording_assets[0]), "an embedded asset has no job_id");
    const list = await app.api<ListPage<Recording>>("GET", `/v2/recordings?room_id=${roomId}`);
    assert.equal(list.body.data.length, 1);
    assert.deepEqual(list.body.data[0].asset_types, ["room-composite"]);
    assert.deepEqual(list.body.data[0].recording_assets, r.body.recording_assets);
    assert.equal((await app.api<ListPage<Recording>>("GET", "/v2/recordings?status=bogus")).status, 400);
    assert.equal((await app.api<Recording>("GET", `/v2/recordings/${"e".repeat(24)}`)).status, 404);
  });

  test("an asset and its presigned URL, which downloads the file", async () => {
    const a = await app.api<RecordingAsset>("GET", `/v2/recording-assets/${assetId}`);
    assert.equal(a.status, 200);
    assert.equal(a.body.type, "room-composite");
    assert.equal(a.body.job_id, recordingId);
    assert.equal(a.body.size, fileBytes.length);
    assert.deepEqual(a.body.metadata, { resolution: { width: 1280, height: 720 } });
    const list = await app.api<ListPage<RecordingAsset>>("GET", `/v2/recording-assets?room_id=${roomId}&type=room-composite`);
    assert.equal(list.body.data.length, 1);

    const p = await app.api<PresignedUrl>("GET", `/v2/recording-assets/${assetId}/presigned-url?presign_duration=120`);
    assert.equal(p.status, 200);
    assert.equal(p.body.id, assetId);
    assert.equal(p.body.expiry, 120);
    assert.equal(p.body.path, a.body.path);
    const file = await fetch(p.body.url);
    assert.equal(file.status, 200);
    assert.deepEqual(Buffer.from(await file.arrayBuffer()), fileBytes);

    const dflt = await app.api<PresignedUrl>("GET", `/v2/recording-assets/${assetId}/presigned-url`);
    assert.equal(dflt.body.expiry, 3 * 86400);
    for (const bad of ["0", "-5", "abc", "99999999"]) {
      const r = await app.api<ApiError>("GET", `/v2/recording-assets/${assetId}/presigned-url?presign_duration=${bad}`);
      assert.equal(r.status, 400, bad);
      assert.match(r.body.message, /presign_duration/);
    }
    assert.equal((await app.api<PresignedUrl>("GET", `/v2/recording-assets/${"f".repeat(24)}/presigned-url`)).status, 404);
    assert.equal((await app.api<ListPage<RecordingAsset>>("GET", "/v2/recording-assets?type=movie")).status, 400);
  });
});
