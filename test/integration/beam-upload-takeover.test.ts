import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import type { RecordingRow } from "../../src/db/schema.ts";
import { newObjectId, nowIso } from "../../src/ids.ts";
import { probe } from "../../src/media/process.ts";
import { newRecordingRow } from "../../src/recorders/core/recording.repository.ts";
import { beamRecorder, type ResumableBeamDetails } from "../../src/recorders/browser/beam-recorder.ts";
import type { BeamDetails } from "../../src/recorders/browser/beam.service.ts";
import { FileFollower } from "../../src/recorders/core/follow-file.ts";
import { InternalS3Storage } from "../../src/storage/internal-s3.storage.ts";
import { MIN_PART_SIZE, ResumableUpload, type ResumableUploadState, uploadInParts } from "../../src/storage/resumable-upload.ts";
import type { Room } from "../support/api-types.ts";
import { type TestApp, startTestApp } from "../support/app.ts";
import { freshDatabaseUrl } from "../support/db.ts";
import { webhookData } from "../support/finish-fixture.ts";
import { startS3rver, type TestS3 } from "../support/s3rver.ts";
import { inProcessNode } from "../support/cluster.ts";
import { until } from "../support/wait.ts";

// A cluster's browser recording whose node dies mid-recording: its live upload is a multipart upload
// whose parts are saved in the recording's details as they go, so another node completes it from those
// parts, remuxes them into a playable MP4 and finishes the recording (INTERNAL_ERROR, what was uploaded
// kept). Two nodes on one PostgreSQL and one s3rver bucket; the dead node is only a row in `nodes`.

const run = promisify(execFile);

const readAll = async (stream: NodeJS.ReadableStream): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
};

describe("a beam whose node dies: what was uploaded is kept (PostgreSQL, two nodes, s3rver)", () => {
  const env = { TAPEDECK_ACCESS_KEY: newObjectId(), TAPEDECK_APP_SECRET: randomBytes(24).toString("base64url") };
  const cluster = (nodeId: string) => inProcessNode(nodeId, s3, "t");
  let s3: TestS3;
  let a: TestApp;
  let b: TestApp;
  let tmp: string;
  /** A 20 s fragmented MP4 at 5 Mb/s (a fragment every 2 s, as the capture writes), about 12 MB. */
  let fixture: Buffer;

  before(async () => {
    s3 = await startS3rver();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tapedeck-takeover-"));
    const file = path.join(tmp, "fragmented.mp4");
    await run("ffmpeg", [
      ...["-y", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30,noise=alls=40:allf=t"],
      ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "20"],
      ...["-c:v", "libx264", "-preset", "ultrafast", "-b:v", "5M", "-minrate", "5M", "-maxrate", "5M", "-bufsize", "2M"],
      ...["-x264-params", "nal-hrd=cbr", "-g", "60", "-c:a", "aac", "-movflags", "frag_keyframe+empty_moov+default_base_moof", file],
    ]);
    fixture = fs.readFileSync(file);
    assert.ok(fixture.length > 2 * MIN_PART_SIZE + 1024 * 1024, `the fixture (${fixture.length} bytes) makes more than two parts`);
    const databaseUrl = await freshDatabaseUrl("postgres");
    // One after the other: the first applies the migrations, the second finds them applied.
    a = await startTestApp({ databaseUrl, env, config: cluster("node-a") });
    b = await startTestApp({ databaseUrl, env, config: cluster("node-b") });
  });

  after(async () => {
    await a?.close();
    await b?.close();
    await s3?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const internal = (app: TestApp): InternalS3Storage => {
    const storage = app.ctx.storage.internal;
    assert.ok(storage instanceof InternalS3Storage, "the internal bucket is TAPEDECK_BUCKET");
    return storage;
  };

  test("a resumable upload: each part is in the state once stored; the state alone completes exactly those bytes", async () => {
    const storage = internal(a);
    const key = `${a.ctx.identity.customerId}/resumable/${newObjectId()}.bin`;
    const data = randomBytes(2 * MIN_PART_SIZE + 12345);

    // As the live upload does: a stream cut into parts, the state saved after each.
    const whole = await ResumableUpload.start(storage, { key, location: "internal", contentType: "application/octet-stream" });
    const saved: ResumableUploadState[] = [];
    const source = Readable.from(
      (function* () {
        for (let i = 0; i < data.length; i += 1_000_000) yield data.subarray(i, i + 1_000_000);
      })(),
    );
    const res = await uploadInParts(whole, source, {
      partSize: MIN_PART_SIZE,
      onPart: async () => {
        saved.push(JSON.parse(JSON.stringify(whole.state)) as ResumableUploadState);
      },
    });
    assert.equal(res.size, data.length);
    assert.deepEqual(
      saved.map((s) => s.parts.map((p) => [p.n, p.size])),
      [
        [[1, MIN_PART_SIZE]],
        [
          [1, MIN_PART_SIZE],
          [2, MIN_PART_SIZE],
        ],
        [
          [1, MIN_PART_SIZE],
          [2, MIN_PART_SIZE],
          [3, 12345],
        ],
      ],
      "parts in order, the state saved after each",
    );
    assert.ok((await readAll(await storage.get(key))).equals(data), "the object is the source");
    assert.ok((await s3.keys("t/")).includes(`t/${key}`), "stored under TAPEDECK_BUCKET's prefix");

    // Cut short after two parts: another node completes it from the saved state alone.
    const cut = await ResumableUpload.start(storage, { key: `${key}.cut`, location: "internal" });
    await cut.uploadPart(data.subarray(0, MIN_PART_SIZE));
    await cut.uploadPart(data.subarray(MIN_PART_SIZE, 2 * MIN_PART_SIZE));
    const state = JSON.parse(JSON.stringify(cut.state)) as ResumableUploadState;
    const other = internal(b);
    const done = await ResumableUpload.resume(other, state).complete();
    assert.equal(done.size, 2 * MIN_PART_SIZE);
    assert.ok((await readAll(await other.get(`${key}.cut`))).equals(data.subarray(0, 2 * MIN_PART_SIZE)), "exactly the uploaded bytes");
  });

  test("a cluster's live upload of a growing spool file: its state is in the details after each part, the object is the whole file", async () => {
    const spool = path.join(tmp, "growing.mp4");
    fs.writeFileSync(spool, "");
    const follower = new FileFollower(spool);
    const key = `${a.ctx.identity.customerId}/beam/live/${newObjectId()}.mp4`;
    const d = { key, spool } as BeamDetails & ResumableBeamDetails;
    const saved: Array<ResumableBeamDetails["live_upload"]> = [];
    const log = a.ctx.log.child({ test: "live-upload" });
    const recorder = beamRecorder(a.ctx);
    const running = recorder.whileRunning!(
      {
        id: "live",
        d,
        log,
        capture: { pause: async () => {}, resume: async () => {}, ended: new Promise(() => {}), follower },
        async saveDetails() {
          saved.push(JSON.parse(JSON.stringify(d.live_upload ?? null)));
        },
      },
      { dest: null, signal: new AbortController().signal },
    );
    const partsSaved = (n: number) => until(() => (saved.at(-1)?.parts.length ?? -1) >= n, `${n} part(s) saved`, 30_000, 20);
    // The capture writes a part and a half: one part goes up and is saved while the file still grows.
    fs.appendFileSync(spool, fixture.subarray(0, MIN_PART_SIZE + MIN_PART_SIZE / 2));
    follower.grew();
    await partsSaved(1);
    assert.deepEqual(
      saved.at(-1)!.parts.map((p) => [p.n, p.size]),
      [[1, MIN_PART_SIZE]],
    );
    assert.equal(saved.at(-1)!.location, "internal");
    assert.equal(saved[0]!.parts.length, 0, "the upload id is saved before the first part");
    fs.appendFileSync(spool, fixture.subarray(MIN_PART_SIZE + MIN_PART_SIZE / 2));
    follower.end();
    await running;
    assert.equal(d.uploaded_size, fixture.length);
    assert.equal(d.live_upload?.completed, true);
    assert.deepEqual(
      d.live_upload!.parts.map((p) => p.size),
      [MIN_PART_SIZE, MIN_PART_SIZE, fixture.length - 2 * MIN_PART_SIZE],
    );
    assert.ok((await readAll(await internal(a).get(key))).equals(fixture), "the object is the whole spool file");
  });

  test("a live upload aborted while it waits for the file to grow: given up, no state left for a takeover", async () => {
    const spool = path.join(tmp, "aborted.mp4");
    fs.writeFileSync(spool, fixture.subarray(0, 1024));
    const follower = new FileFollower(spool);
    const d = { key: `${a.ctx.identity.customerId}/beam/live/${newObjectId()}.mp4`, spool } as BeamDetails & ResumableBeamDetails;
    const saved: boolean[] = [];
    const abort = new AbortController();
    const running = beamRecorder(a.ctx).whileRunning!(
      {
        id: "aborted",
        d,
        log: a.ctx.log,
        capture: { pause: async () => {}, resume: async () => {}, ended: new Promise(() => {}), follower },
        async saveDetails() {
          saved.push(Boolean(d.live_upload));
        },
      },
      { dest: null, signal: abort.signal },
    );
    await until(() => saved.length > 0, "the upload's state saved");
    abort.abort();
    await running;
    assert.equal(d.uploaded_size, undefined, "the spool is uploaded by beam-finish instead");
    assert.equal(d.live_upload, undefined);
    assert.deepEqual(saved, [true, false], "the state saved, then removed");
  });

  /** A beam of a room, `running` on `node-x` (dead), with the details its live upload left. */
  const orphanedBeam = async (o: { name: string; parts: number }) => {
    const t = nowIso();
    await a.ctx.db
      .insertInto("nodes")
      .values({
        id: "node-x",
        url: "http://x.invalid",
        roles: "api,worker",
        state: "dead",
        pid: 1,
        version: "test",
        load: "{}",
        started_at: t,
        heartbeat_at: t,
      })
      .onConflict((oc) => oc.column("id").doNothing())
      .execute();
    const roomId = (await a.api<Room>("POST", "/v2/rooms", { name: o.name })).body.id as string;
    const relative = `beam/${roomId}/Rec-${roomId}.mp4`;
    const key = `${a.ctx.identity.customerId}/${relative}`;
    const up = await ResumableUpload.start(internal(a), { key, location: a.ctx.storage.sealLocation(null), contentType: "video/mp4" });
    for (let n = 0; n < o.parts; n++) await up.uploadPart(fixture.subarray(n * MIN_PART_SIZE, (n + 1) * MIN_PART_SIZE));
    const row = newRecordingRow({
      kind: "beam",
      roomId,
      startedBy: "",
      details: {
        width: 640,
        height: 360,
        audio_only: false,
        layout: "grid",
        roles: null,
        custom_url: "",
        max_duration_s: 3600,
        auto_stop_s: 3600,
        epoch: Date.now() - 20_000,
        session_started_at: t,
        spool: "/node-x/data/beam/gone/recording.mp4",
        relative_path: relative,
        key,
        live_upload: up.state,
      },
    });
    // Its lease has not run out: only the node's death makes it an orphan.
    const leaseUntil = new Date(Date.now() + 3600_000).toISOString();
    await a.ctx.db
      .insertInto("recordings")
      .values({ ...row, status: "running", started_at: t, worker: "node-x", lease_until: leaseUntil })
      .execute();
    return { id: row.id, roomId, key };
  };

  const recording = (id: string) =>
    a.ctx.db.selectFrom("recordings").selectAll().where("id", "=", id).executeTakeFirstOrThrow() as Promise<RecordingRow>;

  test("two parts uploaded when the node died: the recording completes with them, playable, INTERNAL_ERROR naming the node", async () => {
    const parts = 2;
    const uploaded = parts * MIN_PART_SIZE;
    // The media time the uploaded bytes hold: the last video packet that lies whole within them.
    const { stdout } = await run(
      "ffprobe",
      ["-v", "error", "-select_streams", "v", "-show_entries", "packet=pts_time,pos,size", "-of", "json", path.join(tmp, "fragmented.mp4")],
      { maxBuffer: 64 * 1024 * 1024 },
    );
    const packets = (JSON.parse(stdout) as { packets: Array<{ pts_time: string; pos: string; size: string }> }).packets;
    const expected = Math.max(...packets.filter((k) => Number(k.pos) + Number(k.size) <= uploaded).map((k) => Number(k.pts_time)));

    const { id, roomId, key } = await orphanedBeam({ name: "takeover-parts", parts });
    // Either node's capture worker takes it over (every 3 s), the finish job runs on that node.
    const done = await until(
      async () => {
        const r = await recording(id);
        return r.status === "completed" || r.status === "failed" ? r : null;
      },
      "the recording to be finished by a surviving node",
      90_000,
      200,
    );
    assert.equal(done.status, "completed", `failure: ${done.failure}`);
    assert.equal(done.stop_reason, "failure: INTERNAL_ERROR");
    const failure = JSON.parse(done.failure!) as { type: string; message: string };
    assert.equal(failure.type, "INTERNAL_ERROR");
    assert.match(failure.message, /node recording it \(node-x\) stopped or died during the recording; the \d+ s it had uploaded are kept/);

    // The MP4 in the bucket plays: h264, as long as the uploaded prefix.
    const file = path.join(tmp, "kept.mp4");
    await pipeline(await internal(b).get(key), fs.createWriteStream(file));
    const p = await probe(file);
    assert.ok(
      p.streams.some((s) => s.codec_type === "video" && s.codec_name === "h264"),
      "h264 video",
    );
    assert.ok(p.durationSeconds > 0);
    assert.ok(Math.abs(p.durationSeconds - expected) <= 2, `duration ${p.durationSeconds} s ≈ the uploaded ${expected} s`);
    const kept = Number(/the (\d+) s it had uploaded/.exec(failure.message)![1]);
    assert.ok(Math.abs(kept - expected) <= 2, `the message says ${kept} s`);

    const asset = await a.ctx.db
      .selectFrom("recording_assets")
      .selectAll()
      .where("job_id", "=", id)
      .where("type", "=", "room-composite")
      .executeTakeFirstOrThrow();
    assert.equal(asset.object_key, key);
    assert.equal(Number(asset.size), fs.statSync(file).size);

    const success = await webhookData(a.ctx.db, "beam.recording.success", roomId);
    assert.match(JSON.stringify(success.error), /node-x/);
    assert.equal(success.recording_path, internal(a).displayPath(key));
    assert.equal(success.duration, kept);
    assert.ok((success.recording_thumbnails as unknown[]).length > 0, "thumbnails made from the kept part");
    for (const app of [a, b]) assert.ok(!fs.existsSync(path.join(app.dataDir, "beam", id)), "no working folder left");
  });

  test("no part uploaded when the node died: failed as before, naming the node", async () => {
    const { id, roomId } = await orphanedBeam({ name: "takeover-nothing", parts: 0 });
    const done = await until(
      async () => {
        const r = await recording(id);
        return r.status === "completed" || r.status === "failed" ? r : null;
      },
      "the recording to be failed by a surviving node",
      30_000,
      200,
    );
    assert.equal(done.status, "failed");
    const failure = JSON.parse(done.failure!) as { type: string; message: string };
    assert.equal(failure.type, "INTERNAL_ERROR");
    assert.match(failure.message, /node-x/);
    const data = await webhookData(a.ctx.db, "beam.failure", roomId);
    assert.equal(data.error_type, "INTERNAL_ERROR");
    assert.match(String(data.error_message), /node-x.*nothing was kept/);
  });
});
