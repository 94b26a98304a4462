import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { beamFinishHandler } from "../../src/recorders/browser/beam-finish.job.ts";
import { hlsFinishHandler } from "../../src/recorders/hls/hls-finish.job.ts";
import { commitOutputs, failRecording } from "../../src/recorders/core/finish.ts";
import type { WebhookEventType } from "../../src/domain/webhook-types.ts";
import { newObjectId, nowIso } from "../../src/ids.ts";
import { enqueueJob, JobRunner, type JobHandlers } from "../../src/jobs/job-queue.ts";
import { createLogger } from "../../src/log.ts";
import { capturedRecording, webhookData } from "../support/finish-fixture.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { DIALECTS } from "../support/db.ts";
import type { Room, Template } from "../support/api-types.ts";

// The finish jobs' failure path, through the real job queue: when the queue gives up, the failure
// webhook and the recording's `error` say what failed (type) and whose side it was (origin), from the
// error's class: a bucket nobody answers is the destination's UPLOAD_ERROR, an ffmpeg that cannot read
// a segment is tapedeck's INTERNAL_ERROR, not an upload error. A job row whose payload is corrupt fails
// with a message naming the field, and never reaches its handler. The app runs without the worker role,
// so the test's own runner (giving up at the first failure) is the only one.

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

for (const dialect of DIALECTS) {
  describe(`finishing a recording fails with a typed failure (${dialect})`, () => {
    let app: TestApp;
    let runner: JobRunner;
    const handled: string[] = [];

    before(async () => {
      app = await startTestApp({ dialect, env: { TAPEDECK_ROLES: "api" } });
      const beam = beamFinishHandler(app.ctx);
      const handlers: Partial<JobHandlers> = {
        "beam-finish": {
          ...beam,
          run: (p, jc) => {
            handled.push(p.recordingId);
            return beam.run(p, jc);
          },
        },
        "hls-finish": hlsFinishHandler(app.ctx),
      };
      runner = new JobRunner({ db: app.ctx.db, handlers, log: createLogger("silent"), maxAgeMs: 0 });
    });
    after(() => app.close());

    const insertRecording = (o: { kind: "beam" | "hls"; roomId: string; details: object }) => capturedRecording(app.ctx.db, o);
    const webhook = (type: WebhookEventType, roomId: string) => webhookData(app.ctx.db, type, roomId);
    const recording = async (id: string) => app.ctx.db.selectFrom("recordings").selectAll().where("id", "=", id).executeTakeFirstOrThrow();

    test("a browser recording whose bucket cannot be reached: beam.failure UPLOAD_ERROR from the destination", async () => {
      const port = await closedPort();
      const t = await app.api<Template>("POST", "/v2/templates", {
        name: `unreachable-bucket-${dialect}`,
        settings: {
          recording: {
            upload: {
              type: "s3",
              location: "rec",
              options: { endpoint: `http://127.0.0.1:${port}` },
              credentials: { key: "AKIATEST", secretKey: "secret" },
            },
          },
        },
      });
      assert.equal(t.status, 200, JSON.stringify(t.body));
      const roomId = (await app.api<Room>("POST", "/v2/rooms", { name: `unreachable-${dialect}`, template_id: t.body.id })).body
        .id as string;
      const spool = path.join(app.dataDir, "beam", "unreachable", "Rec.mp4");
      fs.mkdirSync(path.dirname(spool), { recursive: true });
      fs.writeFileSync(spool, "an MP4 that never left the disk");
      const id = await insertRecording({
        kind: "beam",
        roomId,
        details: {
          width: 1280,
          height: 720,
          audio_only: false,
          layout: "grid",
          roles: null,
          custom_url: "",
          max_duration_s: 60,
          auto_stop_s: 60,
          epoch: Date.now(),
          session_started_at: nowIso(),
          spool,
          relative_path: "beam/x/Rec.mp4",
          key: "rec/beam/x/Rec.mp4",
        },
      });
      await enqueueJob(app.ctx.db, { type: "beam-finish", key: `beam-finish:${id}`, payload: { recordingId: id } });
      assert.equal(await runner.runOnce(), 1);

      const data = await webhook("beam.failure", roomId);
      assert.equal(data.error_type, "UPLOAD_ERROR");
      assert.equal(data.error_origin, "destination");
      assert.match(
        String(data.error_message),
        /^Failed to upload recordings\. Check if upload config is correct\. \(upload of .*cannot reach endpoint http:\/\/127\.0\.0\.1:\d+/,
      );
      const rec = await recording(id);
      assert.equal(rec.status, "failed");
      assert.deepEqual(JSON.parse(rec.failure!), { type: "UPLOAD_ERROR", origin: "destination", message: data.error_message });
      assert.ok(fs.existsSync(spool), "the only copy stays on disk");
    });

    test("a live stream whose segment ffmpeg cannot read: hls.failure INTERNAL_ERROR, origin internal", async () => {
      const roomId = (await app.api<Room>("POST", "/v2/rooms", { name: `junk-segment-${dialect}` })).body.id as string;
      const live = path.join(app.dataDir, "hls", "junk", "live");
      fs.mkdirSync(path.join(live, "0"), { recursive: true });
      fs.writeFileSync(path.join(live, "master.m3u8"), "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=500000,RESOLUTION=320x180\n0/index.m3u8\n");
      fs.writeFileSync(
        path.join(live, "0", "index.m3u8"),
        [
          "#EXTM3U",
          "#EXT-X-VERSION:3",
          "#EXT-X-TARGETDURATION:2",
          "#EXT-X-MEDIA-SEQUENCE:0",
          "#EXT-X-PROGRAM-DATE-TIME:2026-12-01T10:00:00.000Z",
          "#EXTINF:2.000000,",
          "seg-00000.ts",
          "#EXT-X-ENDLIST",
          "",
        ].join("\n"),
      );
      fs.writeFileSync(path.join(live, "0", "seg-00000.ts"), "not a transport stream");
      const id = await insertRecording({
        kind: "hls",
        roomId,
        details: {
          width: 320,
          height: 180,
          audio_only: false,
          layout: "grid",
          roles: null,
          custom_url: "",
          max_duration_s: 60,
          auto_stop_s: 60,
          epoch: Date.now(),
          session_started_at: nowIso(),
          requested_layers: [{ width: 320, height: 180 }],
          hls_vod: false,
          single_file_per_layer: true,
          playlist_type: "event",
          playlist_segments: 5,
          paused_spans: [],
          live_dir: live,
        },
      });
      await enqueueJob(app.ctx.db, { type: "hls-finish", key: `hls-finish:${id}`, payload: { recordingId: id } });
      assert.equal(await runner.runOnce(), 1);

      const data = await webhook("hls.failure", roomId);
      assert.equal(data.error_type, "INTERNAL_ERROR");
      assert.equal(data.error_origin, "internal");
      assert.match(String(data.error_message), /^Failed to make the stream's recording: ffmpeg exited with code \d+/);
      const rec = await recording(id);
      assert.equal(rec.status, "failed");
      assert.deepEqual(JSON.parse(rec.failure!), { type: "INTERNAL_ERROR", origin: "internal", message: data.error_message });
    });

    test("outputs of a recording someone else moved are not committed; a final recording is not failed again", async () => {
      const roomId = (await app.api<Room>("POST", "/v2/rooms", { name: `moved-${dialect}` })).body.id as string;
      const id = await insertRecording({ kind: "beam", roomId, details: {} });
      const failure = { type: "INTERNAL_ERROR", origin: "internal", message: "the first writer failed it" } as const;
      const failureWebhook = { type: "beam.failure", room: { id: roomId, webhook: null }, data: { beam_id: id } } as const;
      assert.equal(await failRecording(app.ctx, { recordingId: id, kind: "beam", failure, event: failureWebhook }), true);
      const committed = await commitOutputs(app.ctx, {
        assets: [
          {
            jobId: id,
            roomId,
            sessionId: "",
            type: "room-composite",
            path: "x/Rec.mp4",
            objectKey: "x/Rec.mp4",
            location: "",
            size: 1,
            duration: 1,
            metadata: {},
          },
        ],
        recording: { id, kind: "beam" },
        event: () => ({ type: "beam.recording.success", room: { id: roomId, webhook: null }, data: { beam_id: id } }),
      });
      assert.equal(committed, null);
      assert.equal((await recording(id)).status, "failed");
      const assets = await app.ctx.db.selectFrom("recording_assets").select("id").where("job_id", "=", id).execute();
      assert.deepEqual(assets, [], "no asset without its completion");
      const events = async (type: WebhookEventType) =>
        (await app.ctx.db.selectFrom("webhook_events").select("id").where("type", "=", type).where("room_id", "=", roomId).execute())
          .length;
      assert.equal(await events("beam.recording.success"), 0);
      const again = { ...failure, message: "a second writer" };
      assert.equal(await failRecording(app.ctx, { recordingId: id, kind: "beam", failure: again, event: failureWebhook }), false);
      assert.equal(JSON.parse((await recording(id)).failure!).message, "the first writer failed it");
      assert.equal(await events("beam.failure"), 1);
    });

    test("a job row whose payload is corrupt fails with the field named, without running its handler", async () => {
      const t = nowIso();
      const jobId = newObjectId();
      await app.ctx.db
        .insertInto("jobs")
        .values({
          id: jobId,
          type: "beam-finish",
          key: `corrupt:${jobId}`,
          payload: '{"recording":"r1"}',
          state: "pending",
          attempts: 0,
          run_at: t,
          locked_until: null,
          last_error: null,
          created_at: t,
          updated_at: t,
        })
        .execute();
      const before = handled.length;
      assert.equal(await runner.runOnce(), 1);
      const job = await app.ctx.db.selectFrom("jobs").selectAll().where("id", "=", jobId).executeTakeFirstOrThrow();
      assert.equal(job.state, "failed");
      assert.match(job.last_error ?? "", /the beam-finish job's payload is not valid: recordingId:/);
      assert.equal(handled.length, before, "the handler never saw it");
    });
  });
}
