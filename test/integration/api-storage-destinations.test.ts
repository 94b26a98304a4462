import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { insertAsset } from "../../src/assets/asset.repository.ts";
import { getRoom, roomDestination } from "../../src/rooms/room.service.ts";
import { newObjectId } from "../../src/ids.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { startS3rver, type TestS3 } from "../support/s3rver.ts";
import type { PresignedUrl, Room, StorageValidation, Template } from "../support/api-types.ts";

// A template's saved destination, checked and used the way a user would: validate it by template or
// room id (the stored secret is used, never shown), then a file written there is downloadable through
// the asset's presigned URL.

describe("saved storage destinations against a real S3-protocol server", () => {
  let app: TestApp;
  let s3: TestS3;
  let templateId: string;
  let roomId: string;

  before(async () => {
    s3 = await startS3rver();
    app = await startTestApp();
    const t = await app.api<Template>("POST", "/v2/templates", {
      name: "own-bucket",
      settings: {
        recording: {
          upload: {
            type: "s3",
            location: s3.bucket,
            prefix: "acme",
            options: { endpoint: s3.endpoint, region: "us-east-1" },
            credentials: { key: s3.accessKey, secretKey: s3.secret },
          },
        },
      },
    });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    templateId = t.body.id;
    roomId = (await app.api<Room>("POST", "/v2/rooms", { name: "own-bucket-room", template_id: templateId })).body.id;
  });
  after(async () => {
    await app.close();
    await s3.stop();
  });

  test("validate by template id and by room id uses the stored secret", async () => {
    const byTemplate = await app.api<StorageValidation>("POST", "/v2/storage/validate", { template_id: templateId });
    assert.equal(byTemplate.status, 200);
    assert.equal(byTemplate.body.valid, true, JSON.stringify(byTemplate.body));
    assert.equal(byTemplate.body.message, "Recording upload config validated successfully");
    const byRoom = await app.api<StorageValidation>("POST", "/v2/storage/validate", { room_id: roomId });
    assert.equal(byRoom.body.valid, true);
  });

  test("a room with a wrong secret of its own fails validation with a reason, without echoing the secret", async () => {
    const bad = await app.api<Room>("POST", "/v2/rooms", {
      name: "bad-secret-room",
      recording_info: {
        upload_info: {
          type: "s3",
          location: s3.bucket,
          options: { endpoint: s3.endpoint },
          credentials: { key: s3.accessKey, secret: "WRONG-SECRET-123" },
        },
      },
    });
    const r = await app.api<StorageValidation>("POST", "/v2/storage/validate", { room_id: bad.body.id });
    assert.equal(r.status, 200);
    assert.equal(r.body.valid, false);
    assert.match(r.body.message, /secret/i);
    assert.ok(!JSON.stringify(r.body).includes("WRONG-SECRET-123"));
  });

  test("nothing saved, unknown ids and mixed bodies get clear errors", async () => {
    const plain = (await app.api<Room>("POST", "/v2/rooms", { name: "internal-room" })).body.id;
    const none = await app.api<StorageValidation>("POST", "/v2/storage/validate", { room_id: plain });
    assert.equal(none.status, 400);
    assert.match(none.body.message, /internal bucket/);
    assert.equal((await app.api<StorageValidation>("POST", "/v2/storage/validate", { template_id: "a".repeat(24) })).status, 404);
    assert.equal(
      (await app.api<StorageValidation>("POST", "/v2/storage/validate", { template_id: templateId, room_id: roomId })).status,
      400,
    );
    assert.equal((await app.api<StorageValidation>("POST", "/v2/storage/validate", { template_id: "nope" })).status, 400);
  });

  test("a file written to the room's destination downloads through the asset's presigned URL", async () => {
    const dest = await roomDestination(app.ctx, await getRoom(app.ctx.db, roomId));
    assert.ok(dest);
    const storage = app.ctx.storage.open(dest);
    const key = `acme/beam/${roomId}/20261124/Rec-${roomId}-1.mp4`;
    const bytes = Buffer.from("not really an mp4, but bytes all the same");
    await storage.put(key, bytes, { contentType: "video/mp4" });
    const asset = await insertAsset(app.ctx.db, {
      jobId: newObjectId(),
      roomId,
      sessionId: newObjectId(),
      type: "room-composite",
      path: storage.displayPath(key),
      objectKey: key,
      location: app.ctx.storage.sealLocation(dest),
      size: bytes.length,
      duration: 1,
    });
    assert.equal(asset.path, `s3://${s3.bucket}/${key}`);
    const raw = await app.ctx.db.selectFrom("recording_assets").select("location").where("id", "=", asset.id).executeTakeFirstOrThrow();
    assert.ok(!raw.location.includes(s3.secret), "destination secret stored in the clear");
    const p = await app.api<PresignedUrl>("GET", `/v2/recording-assets/${asset.id}/presigned-url?presign_duration=300`);
    assert.equal(p.status, 200);
    assert.equal(p.body.expiry, 300);
    const file = await fetch(p.body.url);
    assert.equal(file.status, 200);
    assert.deepEqual(Buffer.from(await file.arrayBuffer()), bytes);
  });
});
