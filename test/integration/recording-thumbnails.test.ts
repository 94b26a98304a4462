import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { WebhookEventType } from "../../src/domain/webhook-types.ts";
import { newObjectId, nowIso } from "../../src/ids.ts";
import { enqueueJob, JobRunner, type JobHandlers } from "../../src/jobs/job-queue.ts";
import { createLogger } from "../../src/log.ts";
import { probe } from "../../src/media/process.ts";
import { beamFinishHandler } from "../../src/recorders/browser/beam-finish.job.ts";
import { hlsFinishHandler } from "../../src/recorders/hls/hls-finish.job.ts";
import type { Room, Template } from "../support/api-types.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { DIALECTS } from "../support/db.ts";
import { capturedRecording, webhookData } from "../support/finish-fixture.ts";
import { fixtureDir, makeLiveHlsFolder, makeRecordingMp4 } from "../support/media-fixtures.ts";

// Thumbnails of finished recordings, through the real finish jobs and the internal bucket, from real
// media made by ffmpeg. What is checked comes from 100ms's reference: the template's `thumbnails`
// (`{"enabled": true, "width": 1280, "height": 720, "offsets": [2], "fps": 60}`, its recordings sample
// turned on), the `hls.recording.success` sample's `recording_thumbnails` entries
// (`{"width": 1280, "height": 720, "offset": 60, "location": "s3://….png", "url": "https://…?<signature>"}`),
// and the asset's `thumbnails` ("Array of paths of thumbnails generated out of the recording (only for
// `room-vod`)"). A thumbnail that cannot be made never fails the recording.

const THUMBNAILS = { enabled: true, width: 1280, height: 720, offsets: [2], fps: 60 };

const mp4 = (file: string, seconds?: number) => makeRecordingMp4(file, { seconds });
const liveFolder = (live: string) => makeLiveHlsFolder(live, { sizes: [[640, 360]] });

interface Thumb {
  width: number;
  height: number;
  offset: number;
  location: string;
  url: string;
}

for (const dialect of DIALECTS) {
  describe(`recording thumbnails (${dialect})`, () => {
    let app: TestApp;
    let runner: JobRunner;
    const tmp = fixtureDir("tapedeck-thumbs-");

    before(async () => {
      app = await startTestApp({ dialect, env: { TAPEDECK_ROLES: "api" } });
      const handlers: Partial<JobHandlers> = { "beam-finish": beamFinishHandler(app.ctx), "hls-finish": hlsFinishHandler(app.ctx) };
      runner = new JobRunner({ db: app.ctx.db, handlers, log: createLogger("silent"), maxAgeMs: 0 });
    });
    after(async () => {
      await app.close();
      tmp.remove();
    });

    const roomWith = async (name: string, template: object) => {
      const t = await app.api<Template>("POST", "/v2/templates", { name: `${name}-${dialect}`, ...template });
      assert.equal(t.status, 200, JSON.stringify(t.body));
      const r = await app.api<Room>("POST", "/v2/rooms", { name: `${name}-${dialect}`, template_id: t.body.id });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.id as string;
    };
    const insertRecording = (o: { kind: "beam" | "hls"; roomId: string; details: object }) => capturedRecording(app.ctx.db, o);
    const finish = async (type: "beam-finish" | "hls-finish", id: string) => {
      await enqueueJob(app.ctx.db, { type, key: `${type}:${id}`, payload: { recordingId: id } });
      assert.equal(await runner.runOnce(), 1);
      const rec = await app.ctx.db.selectFrom("recordings").select(["status", "failure"]).where("id", "=", id).executeTakeFirstOrThrow();
      assert.equal(rec.status, "completed", String(rec.failure));
    };
    const webhook = (type: WebhookEventType, roomId: string) => webhookData(app.ctx.db, type, roomId);
    const assets = async (roomId: string) => {
      const r = await app.api<{ data: Array<Record<string, unknown>> }>("GET", `/v2/recording-assets?room_id=${roomId}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.data;
    };
    /** The image behind a presigned URL, fetched and read by ffprobe. */
    const image = async (url: string) => {
      const res = await fetch(url);
      assert.equal(res.status, 200, url);
      const file = path.join(tmp.dir, `${newObjectId()}.png`);
      fs.writeFileSync(file, Buffer.from(await res.arrayBuffer()));
      const p = await probe(file);
      const v = p.streams.find((s) => s.codec_type === "video")!;
      return { codec: v.codec_name, width: v.width, height: v.height };
    };
    const beamDetails = (spool: string, epoch: number, startedAt: string) => ({
      width: 640,
      height: 360,
      audio_only: false,
      layout: "grid",
      roles: null,
      custom_url: "",
      max_duration_s: 60,
      auto_stop_s: 60,
      epoch,
      session_started_at: startedAt,
      spool,
    });

    test("a browser recording: PNGs at the template's offsets and size beside the MP4, in the asset and the webhook", async () => {
      const roomId = await roomWith("thumbs-beam", {
        roles: { host: { name: "host" } },
        recordings: [{ name: "default", role: "host", thumbnails: THUMBNAILS }],
      });
      const spool = path.join(app.dataDir, "beam", `thumbs-${dialect}`, "Rec.mp4");
      await mp4(spool);
      const epoch = Date.now();
      const startedAt = nowIso();
      const relative = `beam/${roomId}/${startedAt.slice(0, 10).replaceAll("-", "")}/Rec-${roomId}-${epoch}.mp4`;
      const id = await insertRecording({
        kind: "beam",
        roomId,
        details: { ...beamDetails(spool, epoch, startedAt), relative_path: relative, key: `${app.ctx.identity.customerId}/${relative}` },
      });
      await finish("beam-finish", id);

      const data = await webhook("beam.recording.success", roomId);
      // The built-in page, as the API shows it (the recorder's token is never in it).
      assert.equal(data.meeting_url, `${app.ctx.config.publicUrl}/room/${roomId}?skip_preview=true`);
      const thumbs = data.recording_thumbnails as Thumb[];
      assert.equal(thumbs.length, 1);
      const [t] = thumbs;
      assert.deepEqual(Object.keys(t).sort(), ["height", "location", "offset", "url", "width"]);
      assert.equal(t.width, 1280);
      assert.equal(t.height, 720);
      assert.equal(t.offset, 2);
      assert.match(t.location, /\.png$/);
      // Same folder as the recording, named after it.
      const recording = data.recording_path as string;
      assert.equal(path.posix.dirname(t.location), path.posix.dirname(recording));
      assert.equal(path.posix.basename(t.location), `Rec-${roomId}-${epoch}-thumbnail-2.png`);
      assert.notEqual(t.url, t.location);
      assert.deepEqual(await image(t.url), { codec: "png", width: 1280, height: 720 });

      const composite = (await assets(roomId)).find((a) => a.type === "room-composite")!;
      assert.deepEqual(composite.thumbnails, [t.location]);
      const pre = await app.api<{ path: string; url: string }>("GET", `/v2/recording-assets/${composite.id}/presigned-url?thumbnail=0`);
      assert.equal(pre.status, 200, JSON.stringify(pre.body));
      assert.equal(pre.body.path, t.location);
      const res = await fetch(pre.body.url);
      assert.equal(res.headers.get("content-type"), "image/png");
      assert.deepEqual(await image(pre.body.url), { codec: "png", width: 1280, height: 720 });
      const missing = await app.api("GET", `/v2/recording-assets/${composite.id}/presigned-url?thumbnail=1`);
      assert.equal(missing.status, 404);
      assert.ok(!fs.existsSync(path.dirname(spool)), "the spool folder (with the images) is removed");
    });

    test("a live stream: from the top layer, in the recording's folder, on the room-vod asset and in hls.recording.success", async () => {
      const roomId = await roomWith("thumbs-hls", {
        destinations: {
          hlsDestinations: {
            "hls-1": {
              name: "hls-1",
              layers: [{ width: 640, height: 360, videoBitrate: 800, audioBitrate: 64 }],
              recording: { hlsVod: true, singleFilePerLayer: true, thumbnails: { ...THUMBNAILS, offsets: [2, 6, 60] } },
            },
          },
        },
      });
      const live = path.join(app.dataDir, "hls", `thumbs-${dialect}`, "live");
      await liveFolder(live);
      const epoch = Date.now();
      const id = await insertRecording({
        kind: "hls",
        roomId,
        details: {
          ...beamDetails("", epoch, nowIso()),
          requested_layers: [{ width: 640, height: 360 }],
          layers: [{ width: 640, height: 360 }],
          hls_vod: true,
          single_file_per_layer: true,
          playlist_type: "event",
          playlist_segments: 5,
          live_dir: live,
        },
      });
      await finish("hls-finish", id);

      const data = await webhook("hls.recording.success", roomId);
      assert.equal(data.meeting_url, `${app.ctx.config.publicUrl}/room/${roomId}?skip_preview=true`);
      const thumbs = data.recording_thumbnails as Thumb[];
      // 60 s is past the 12 s recording: left out.
      assert.deepEqual(
        thumbs.map((t) => [t.offset, t.width, t.height]),
        [
          [2, 1280, 720],
          [6, 1280, 720],
        ],
      );
      for (const t of thumbs) {
        assert.deepEqual(Object.keys(t).sort(), ["height", "location", "offset", "url", "width"]);
        assert.match(t.location, new RegExp(`/hls/${roomId}/\\d{8}/${epoch}/thumbnails/Rec-${roomId}-${epoch}-${t.offset}\\.png$`));
        assert.deepEqual(await image(t.url), { codec: "png", width: 1280, height: 720 });
      }
      const list = await assets(roomId);
      const vod = list.find((a) => a.type === "room-vod")!;
      assert.deepEqual(
        vod.thumbnails,
        thumbs.map((t) => t.location),
      );
      assert.equal(list.find((a) => a.type === "room-composite")!.thumbnails, null, "listed once, on the room-vod asset");
    });

    test("thumbnails that cannot be made leave recording_thumbnails empty; the recording still completes", async () => {
      const roomId = await roomWith("thumbs-broken", {
        roles: { host: { name: "host" } },
        recordings: [{ name: "default", role: "host", thumbnails: THUMBNAILS }],
      });
      const spool = path.join(app.dataDir, "beam", `broken-${dialect}`, "Rec.mp4");
      fs.mkdirSync(path.dirname(spool), { recursive: true });
      fs.writeFileSync(spool, "not an MP4 at all");
      const epoch = Date.now();
      const startedAt = nowIso();
      const relative = `beam/${roomId}/${startedAt.slice(0, 10).replaceAll("-", "")}/Rec-${roomId}-${epoch}.mp4`;
      const id = await insertRecording({
        kind: "beam",
        roomId,
        details: { ...beamDetails(spool, epoch, startedAt), relative_path: relative, key: `${app.ctx.identity.customerId}/${relative}` },
      });
      await finish("beam-finish", id);
      const data = await webhook("beam.recording.success", roomId);
      assert.deepEqual(data.recording_thumbnails, []);
      assert.equal((await assets(roomId)).find((a) => a.type === "room-composite")!.thumbnails, null);
    });

    test("thumbnails.enabled false: none are made", async () => {
      const roomId = await roomWith("thumbs-off", {
        roles: { host: { name: "host" } },
        recordings: [{ name: "default", role: "host", thumbnails: { ...THUMBNAILS, enabled: false } }],
      });
      const spool = path.join(app.dataDir, "beam", `off-${dialect}`, "Rec.mp4");
      await mp4(spool, 4);
      const epoch = Date.now();
      const startedAt = nowIso();
      const relative = `beam/${roomId}/${startedAt.slice(0, 10).replaceAll("-", "")}/Rec-${roomId}-${epoch}.mp4`;
      const id = await insertRecording({
        kind: "beam",
        roomId,
        details: { ...beamDetails(spool, epoch, startedAt), relative_path: relative, key: `${app.ctx.identity.customerId}/${relative}` },
      });
      await finish("beam-finish", id);
      assert.deepEqual((await webhook("beam.recording.success", roomId)).recording_thumbnails, []);
    });
  });
}
