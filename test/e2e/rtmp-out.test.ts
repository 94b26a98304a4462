import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { mintAppToken } from "../../src/auth/tokens.ts";
import { probe } from "../../src/media/process.ts";
import type { ApiError, EmbeddedAsset, JsonObject, PresignedUrl, Room, WebhookEnvelope } from "../support/api-types.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { makeFakeAudio, makeFakeVideo, openRoomPage, withArtifacts, type RoomPage } from "../support/browser.ts";
import { freePort, startRtmpServer, type RtmpServer } from "../support/rtmp-server.ts";
import { until } from "../support/wait.ts";

// External streams (RTMP out) as a user runs them: a whole tapedeck, one publishing headless Chromium
// peer (Red: red camera, 440 Hz), a real RTMP server (node-media-server, recording what it receives as
// FLV), and the recorder streaming through the API. What the server received is checked with ffprobe.

interface ExternalStream {
  id: string;
  room_id: string;
  session_id: string;
  status: string;
  rtmp_urls: string[];
  recording: boolean;
  resolution: { width: number; height: number };
  started_at: string | null;
  stopped_at: string | null;
  stop_reason?: string;
  error?: { type: string; message: string; origin: string };
  rtmp_failures?: Array<{ url_index: number; url: string; message: string }>;
  recording_assets: EmbeddedAsset[] | null;
}

let app: TestApp;
let rtmp: RtmpServer;
let tmp: string;
let roomId: string;
let red: RoomPage;

before(async () => {
  [app, rtmp] = await Promise.all([startTestApp(), startRtmpServer()]);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-rtmp-out-"));
  roomId = (await app.api<Room>("POST", "/v2/rooms", { name: "rtmp-room" })).body.id;
  red = await openRoomPage(null, {
    baseUrl: app.url,
    roomId,
    token: await mintAppToken(app.ctx.identity, { roomId, role: "host", userId: "user-red" }),
    name: "Red",
    skipPreview: true,
    fakeVideoFile: makeFakeVideo(path.join(tmp, "red.y4m"), { color: "red", width: 320, height: 180, fps: 15 }),
    fakeAudioFile: makeFakeAudio(path.join(tmp, "a440.wav"), { frequency: 440 }),
  });
});

after(async () => {
  await red?.close();
  await app?.close();
  await rtmp?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const get = async (id: string) => (await app.api<ExternalStream>("GET", `/v2/external-streams/${id}`)).body;
const waitFor = (id: string, statuses: string[], timeoutMs = 60_000) =>
  until(
    async () => {
      const s = await get(id);
      return statuses.includes(s.status) && s;
    },
    `external stream ${id} to be ${statuses.join(" or ")}`,
    timeoutMs,
    100,
  );
const eventsOf = async (id: string): Promise<WebhookEnvelope[]> =>
  (await app.v2.events({ room_id: roomId })).filter((e) => (e.data as JsonObject).beam_id === id);

test("one encode to two RTMP URLs (h264 + aac, the stream's size and length), a refusing third gets rtmp.failure while the others go on, recording: true gives the MP4", async () => {
  await withArtifacts(
    "rtmp-out",
    () => [red],
    async () => {
      const closed = await freePort();
      const urls = [`${rtmp.base}/live/key-one`, `${rtmp.base}/live/key-two`, `rtmp://127.0.0.1:${closed}/live/secret-three`];
      const start = await app.api<ExternalStream>("POST", `/v2/external-streams/room/${roomId}/start`, {
        rtmp_urls: urls,
        recording: true,
        resolution: { width: 854, height: 480 },
      });
      assert.equal(start.status, 200, JSON.stringify(start.body));
      assert.equal(start.body.status, "starting");
      assert.deepEqual(start.body.rtmp_urls, urls);
      const id = start.body.id;
      const running = await waitFor(id, ["running"]);
      assert.ok(running.session_id, "the stream belongs to the room's session");

      // The closed port is retried, then given up, naming it; the stream goes on to the other two.
      const failure = await until(
        async () => (await eventsOf(id)).find((e) => e.type === "rtmp.failure"),
        "rtmp.failure for the refusing URL",
        40_000,
        200,
      );
      const f = failure.data as JsonObject;
      assert.deepEqual(f.rtmp, [{ url: urls[2] }]);
      assert.equal(f.error_type, "RTMP_URL_FAILED");
      assert.equal(f.error_origin, "destination");
      assert.equal(f.rtmp_url_index, 2);
      assert.equal(f.stream_running, true);
      assert.match(String(f.error_message), /127\.0\.0\.1:\d+\/live\/\*\*\*.*Connection refused/);
      assert.ok(!String(f.error_message).includes("secret-three"), "the message does not hold the stream key");
      const mid = await get(id);
      assert.equal(mid.status, "running");
      assert.deepEqual(
        mid.rtmp_failures?.map((x) => [x.url_index, x.url]),
        [[2, `rtmp://127.0.0.1:${closed}/live/***`]],
      );

      const stop = await app.api<{ data: ExternalStream[] }>("POST", `/v2/external-streams/room/${roomId}/stop`, {});
      assert.equal(stop.status, 200, JSON.stringify(stop.body));
      assert.deepEqual(
        stop.body.data.map((s) => s.id),
        [id],
      );
      const done = await waitFor(id, ["completed", "failed"]);
      assert.equal(done.status, "completed", JSON.stringify(done.error));
      const wall = (Date.parse(done.stopped_at!) - Date.parse(done.started_at!)) / 1000;

      // What the RTMP server received, per stream key.
      for (const key of ["key-one", "key-two"]) {
        const files = rtmp.recorded(key);
        assert.equal(files.length, 1, `one publish of ${key}: ${files.join(", ")}`);
        const p = await probe(files[0]);
        const video = p.streams.find((s) => s.codec_type === "video");
        const audio = p.streams.find((s) => s.codec_type === "audio");
        assert.equal(video?.codec_name, "h264");
        assert.equal(audio?.codec_name, "aac");
        assert.deepEqual([video?.width, video?.height], [854, 480]);
        assert.ok(Math.abs(p.durationSeconds - wall) <= 1.5, `${key}: ${p.durationSeconds} s received of a ${wall} s stream`);
      }

      // recording: true: the room-composite MP4, as a browser recording makes it.
      const asset = done.recording_assets?.find((a) => a.type === "room-composite");
      assert.ok(asset, JSON.stringify(done.recording_assets));
      assert.match(asset.path, new RegExp(`beam/${roomId}/\\d{8}/Rec-${roomId}-\\d+\\.mp4$`));
      const link = await app.api<PresignedUrl>("GET", `/v2/recording-assets/${asset.id}/presigned-url`);
      const file = path.join(tmp, "rtmp.mp4");
      fs.writeFileSync(file, Buffer.from(await (await fetch(link.body.url)).arrayBuffer()));
      const mp4 = await probe(file);
      assert.deepEqual(
        mp4.streams.map((s) => s.codec_name),
        ["h264", "aac"],
      );
      assert.ok(Math.abs(mp4.durationSeconds - wall) <= 1.5, `MP4 ${mp4.durationSeconds} s of a ${wall} s stream`);

      // The webhooks: 100ms's beam fields, `rtmp` listing the URLs, `recording_enabled`.
      const events = await eventsOf(id);
      const byType = new Map(events.map((e) => [e.type, e.data as JsonObject]));
      for (const type of ["rtmp.started.success", "rtmp.stopped.success"]) {
        const d = byType.get(type);
        assert.ok(d, `${type} in ${events.map((e) => e.type).join(", ")}`);
        assert.deepEqual(
          d.rtmp,
          urls.map((url) => ({ url })),
        );
        assert.equal(d.recording_enabled, true);
        assert.equal(d.job_id, id);
        assert.equal(d.session_id, done.session_id);
      }
      assert.equal(byType.get("rtmp.stopped.success")?.reason, "client request");
      const success = byType.get("beam.recording.success");
      assert.ok(success, "beam.recording.success for the recorded stream");
      assert.equal(success.recording_path, asset.path);
      assert.equal(success.size, asset.size);
      assert.deepEqual(
        success.rtmp,
        urls.map((url) => ({ url })),
      );
    },
  );
});

test("every URL refusing: each gets rtmp.failure, the stream stops itself and fails; not recorded, it has no asset", async () => {
  const urls = [`rtmp://127.0.0.1:${await freePort()}/live/gone`];
  const start = await app.api<ExternalStream>("POST", `/v2/external-streams/room/${roomId}/start`, { rtmp_urls: urls });
  assert.equal(start.status, 200, JSON.stringify(start.body));
  assert.equal(start.body.recording, false);
  const done = await waitFor(start.body.id, ["completed", "failed"], 90_000);
  assert.equal(done.status, "failed");
  assert.equal(done.stop_reason, "failure: every RTMP URL failed");
  assert.equal(done.error?.origin, "destination");
  assert.match(done.error?.message ?? "", /every RTMP URL failed: rtmp:\/\/127\.0\.0\.1:\d+\/live\/\*\*\*: .*Connection refused/);
  assert.equal(done.recording_assets, null);
  const failures = (await eventsOf(done.id)).filter((e) => e.type === "rtmp.failure").map((e) => e.data as JsonObject);
  assert.deepEqual(
    failures.map((d) => [d.error_type, d.stream_running ?? null]),
    [
      ["RTMP_URL_FAILED", false],
      ["INTERNAL_ERROR", null],
    ],
  );
  const again = await app.api<ApiError>("POST", `/v2/external-streams/${done.id}/stop`, {});
  assert.equal(again.status, 200, "stopping a finished stream answers it as it is");
});
