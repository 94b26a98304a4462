import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { insertAsset } from "../../src/assets/asset.repository.ts";
import { newObjectId, newUuid } from "../../src/ids.ts";
import type { Json } from "../../src/util/json.ts";
import { attachmentDisposition } from "../../src/storage/content-disposition.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { startS3rver, type TestS3 } from "../support/s3rver.ts";
import type { PresignedUrl, RecordingAsset, Room } from "../support/api-types.ts";

// Downloads are named for people: `<room name> <YYYY-MM-DD HH-MM>[ what].<ext>` through
// Content-Disposition (RFC 6266, the UTF-8 name in filename*), from the internal bucket's download
// route and from an S3 bucket (the presigned URL's response-content-disposition). Stored paths do not change.

test("Content-Disposition: an ASCII fallback of safe characters, the real name as RFC 5987 UTF-8", () => {
  assert.equal(
    attachmentDisposition('Zoë\'s "call" 2026-11-24 10-00.mp4'),
    `attachment; filename="Zoe_s -call- 2026-11-24 10-00.mp4"; filename*=UTF-8''Zo%C3%AB%27s%20-call-%202026-11-24%2010-00.mp4`,
  );
  assert.equal(attachmentDisposition("a/b\\c:d\r\nx.csv"), `attachment; filename="a-b-c-dx.csv"; filename*=UTF-8''a-b-c-dx.csv`);
});

describe("recording downloads are named for people", () => {
  let app: TestApp;
  let s3: TestS3;
  const t0 = "2026-11-24T10:00:00.000Z";
  const assets: Record<string, string> = {};
  const body = Buffer.from("stand-in bytes\n".repeat(50));

  before(async () => {
    s3 = await startS3rver();
    app = await startTestApp();
    const roomId = (await app.api<Room>("POST", "/v2/rooms", { name: "team-sync:q4" })).body.id;
    const sessionId = newObjectId();
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
        ended_at: t0,
      })
      .execute();
    const peerId = newUuid();
    await app.ctx.db
      .insertInto("peers")
      .values({
        id: peerId,
        session_id: sessionId,
        room_id: roomId,
        name: "Zoë",
        role: "host",
        user_id: "u-zoe",
        user_data: "",
        joined_at: t0,
        left_at: t0,
        leave_reason: "client request",
      })
      .execute();
    const internal = app.ctx.storage.internal;
    const s3Upload = {
      type: "s3" as const,
      location: s3.bucket,
      prefix: "rec",
      options: { endpoint: s3.endpoint },
      credentials: { key: s3.accessKey, secret: s3.secret },
    };
    const add = async (name: string, key: string, type: "room-composite" | "track" | "chat", metadata: Json, onS3 = false) => {
      const storage = onS3 ? app.ctx.storage.openLocation(app.ctx.storage.sealLocation(s3Upload)) : internal;
      const fullKey = onS3 ? `rec/${key}` : key;
      await storage.put(fullKey, body);
      const a = await insertAsset(app.ctx.db, {
        jobId: newObjectId(),
        roomId,
        sessionId,
        type,
        path: storage.displayPath(fullKey),
        objectKey: fullKey,
        location: app.ctx.storage.sealLocation(onS3 ? s3Upload : null),
        size: body.length,
        duration: 60,
        metadata,
      });
      assets[name] = a.id;
    };
    await add("composite", "c/r/Rec-1.mp4", "room-composite", { resolution: { width: 1280, height: 720 } });
    await add("track", "c/r/tracks/t1.webm", "track", { peer_id: peerId, track_type: "audio" });
    await add("chat", "c/r/Rec-1.csv", "chat", { messages: 3 });
    await add("layer", "c/r/layer-1.mp4", "room-composite", { resolution: { width: 640, height: 360 }, layer: "1" }, true);
  });
  after(async () => {
    await app?.close();
    await s3?.stop();
  });

  const presigned = async (name: string) => {
    const p = await app.api<PresignedUrl>("GET", `/v2/recording-assets/${assets[name]}/presigned-url`);
    assert.equal(p.status, 200, JSON.stringify(p.body));
    return p.body;
  };
  const named = (file: string) => `attachment; filename="${file}"; filename*=UTF-8''${encodeURIComponent(file)}`;

  test("internal bucket: the download route sends the name; the stored path is unchanged; a changed name is refused", async () => {
    const p = await presigned("composite");
    const asset = (await app.api<RecordingAsset>("GET", `/v2/recording-assets/${assets.composite}`)).body;
    assert.equal(p.path, asset.path);
    assert.match(p.path, /Rec-1\.mp4$/);
    const res = await fetch(p.url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-disposition"), named("team-sync-q4 2026-11-24 10-00.mp4"));
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), body);

    const track = await fetch((await presigned("track")).url);
    assert.equal(
      track.headers.get("content-disposition"),
      `attachment; filename="team-sync-q4 2026-11-24 10-00 Zoe audio.webm"; filename*=UTF-8''${encodeURIComponent("team-sync-q4 2026-11-24 10-00 Zoë audio.webm")}`,
    );
    await track.arrayBuffer();
    const chat = await fetch((await presigned("chat")).url);
    assert.equal(chat.headers.get("content-disposition"), named("team-sync-q4 2026-11-24 10-00 chat.csv"));
    await chat.arrayBuffer();

    const url = new URL(p.url);
    url.searchParams.set("filename", "something-else.exe");
    assert.equal((await fetch(url)).status, 403, "the name is signed with the link");
  });

  test("S3: the presigned URL asks the bucket for the name (response-content-disposition); a layer's resolution is in it", async () => {
    const p = await presigned("layer");
    const url = new URL(p.url);
    assert.ok(p.url.startsWith(`${s3.endpoint}/${s3.bucket}/rec/c/r/layer-1.mp4?`), p.url);
    const file = "team-sync-q4 2026-11-24 10-00 640x360.mp4";
    assert.equal(url.searchParams.get("response-content-disposition"), named(file));
    const res = await fetch(p.url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-disposition"), named(file));
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), body);
  });
});
