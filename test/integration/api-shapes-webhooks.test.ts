import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { WebhookEventType } from "../../src/domain/webhook-types.ts";
import { newObjectId, newUuid, nowIso } from "../../src/ids.ts";
import { enqueueJob, JobRunner, type JobHandlers } from "../../src/jobs/job-queue.ts";
import { createLogger } from "../../src/log.ts";
import { hlsFinishHandler } from "../../src/recorders/hls/hls-finish.job.ts";
import { uploadTrackHandler } from "../../src/recorders/sfu/upload-track.job.ts";
import type { Room, Template } from "../support/api-types.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { capturedRecording } from "../support/finish-fixture.ts";
import { fixtureDir, makeAudioWebm, makeLiveHlsFolder } from "../support/media-fixtures.ts";

// Webhooks against 100ms's reference (docs/server-side/v2/how-to-guides/configure-webhooks/webhook.md),
// through the real jobs, the internal bucket and media made by ffmpeg:
// - the envelope's `template_id` ("Template ID of the room", listed for every event) on the SFU's
//   track events too, whose data keys have none (the stream events: sfu-session-recording.test.ts);
// - `recording_hls_vod_playlist_location`: "(Deprecated, use hls_vod_recording_presigned_url) Pre
//   signed url for HLS vod playlist url": the same presigned URL, which fetches the VOD (a zip).

describe("webhook shapes", () => {
  let app: TestApp;
  let runner: JobRunner;
  let room: Room;
  let template: Template;
  const tmp = fixtureDir("tapedeck-shapes-");

  before(async () => {
    app = await startTestApp({ env: { TAPEDECK_ROLES: "api" } });
    const handlers: Partial<JobHandlers> = { "hls-finish": hlsFinishHandler(app.ctx), "upload-track": uploadTrackHandler(app.ctx) };
    // maxAgeMs 0: a job that fails once has failed for good (its onFailed runs), no waiting for retries.
    runner = new JobRunner({ db: app.ctx.db, handlers, log: createLogger("silent"), maxAgeMs: 0 });
    template = await app.v2.createTemplate({ name: "shape-webhooks" });
    room = await app.v2.createRoom({ name: "shape-webhooks", template_id: template.id });
  });
  after(async () => {
    await app?.close();
    tmp.remove();
  });

  /** The envelopes of `type` written for the room, oldest first. */
  const envelopes = async (type: WebhookEventType) => {
    const rows = await app.ctx.db
      .selectFrom("webhook_events")
      .select("body")
      .where("type", "=", type)
      .where("room_id", "=", room.id)
      .orderBy("id")
      .execute();
    return rows.map((r) => JSON.parse(r.body) as { template_id?: string; data: Record<string, unknown> });
  };

  test("track.recording.success and .failure carry the room's template_id in the envelope", async () => {
    const file = await makeAudioWebm(path.join(tmp.dir, "track.webm"), { seconds: 2 });
    const t = nowIso();
    const payload = (f: string) => ({
      file: f,
      recordedTrackId: newObjectId(),
      recordingId: newObjectId(),
      roomId: room.id,
      sessionId: newObjectId(),
      sessionStartedAt: t,
      peerId: newUuid(),
      streamId: newUuid(),
      trackId: newUuid(),
      trackType: "audio" as const,
      startedAt: t,
      endedAt: t,
    });
    const ok = payload(file);
    await enqueueJob(app.ctx.db, { type: "upload-track", key: `upload-track:${ok.trackId}`, payload: ok });
    assert.equal(await runner.runOnce(), 1);
    const [success] = await envelopes("track.recording.success");
    assert.ok(success, "track.recording.success written");
    assert.equal(success.template_id, template.id);
    assert.equal(success.data.track_id, ok.trackId);
    assert.ok(!("template_id" in success.data), "the data keys stay 100ms's");

    const gone = payload(path.join(tmp.dir, "missing.webm"));
    await enqueueJob(app.ctx.db, { type: "upload-track", key: `upload-track:${gone.trackId}`, payload: gone });
    assert.equal(await runner.runOnce(), 1);
    const [failure] = await envelopes("track.recording.failure");
    assert.ok(failure, "track.recording.failure written");
    assert.equal(failure.template_id, template.id);
    assert.equal(failure.data.track_id, gone.trackId);
  });

  test("hls.recording.success: recording_hls_vod_playlist_location is the VOD's presigned URL", async () => {
    const live = await makeLiveHlsFolder(path.join(app.dataDir, "hls", "shape", "live"), { sizes: [[640, 360]], seconds: 6 });
    const epoch = Date.now();
    const id = await capturedRecording(app.ctx.db, {
      kind: "hls",
      roomId: room.id,
      details: {
        width: 640,
        height: 360,
        audio_only: false,
        layout: "grid",
        roles: null,
        custom_url: "",
        max_duration_s: 60,
        auto_stop_s: 60,
        epoch,
        session_started_at: nowIso(),
        requested_layers: [{ width: 640, height: 360 }],
        layers: [{ width: 640, height: 360 }],
        hls_vod: true,
        single_file_per_layer: false,
        playlist_type: "event",
        playlist_segments: 5,
        live_dir: live,
      },
    });
    await enqueueJob(app.ctx.db, { type: "hls-finish", key: `hls-finish:${id}`, payload: { recordingId: id } });
    assert.equal(await runner.runOnce(), 1);
    const [env] = await envelopes("hls.recording.success");
    assert.ok(env, "hls.recording.success written");
    assert.equal(env.template_id, template.id);
    const d = env.data;
    assert.match(String(d.hls_vod_recording_presigned_url), /^https?:\/\//);
    assert.equal(d.recording_hls_vod_playlist_location, d.hls_vod_recording_presigned_url);
    assert.notEqual(d.recording_hls_vod_playlist_location, d.hls_vod_recording_path, "a URL, not the storage path");
    const res = await fetch(String(d.recording_hls_vod_playlist_location));
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(body.subarray(0, 4).toString("latin1"), "PK\u0003\u0004", "the VOD zip");
    assert.equal(body.length, d.hls_vod_recording_size);
    assert.ok(!fs.existsSync(path.dirname(live)), "the live folder is removed");
  });
});
