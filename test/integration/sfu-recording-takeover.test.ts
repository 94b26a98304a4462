import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { after, afterEach, before, describe, test } from "node:test";
import { asNode, setLocalNode } from "../../src/config/local-node.ts";
import type { RoomRow } from "../../src/db/schema.ts";
import type { WebhookEventType } from "../../src/domain/webhook-types.ts";
import { newObjectId } from "../../src/ids.ts";
import { enqueueJob, JobRunner, type JobHandlers } from "../../src/jobs/job-queue.ts";
import { createLogger } from "../../src/log.ts";
import { probe } from "../../src/media/process.ts";
import { getRoom } from "../../src/rooms/room.service.ts";
import { processSessionHandler } from "../../src/recorders/sfu/session-recording.job.ts";
import { compositeProgressHandler } from "../../src/recorders/sfu/session-progress.job.ts";
import { closeSfuRecording, openSfuRecording, trackSpoolFile } from "../../src/recorders/sfu/sfu-recording.ts";
import { uploadTrackHandler, type UploadTrackPayload } from "../../src/recorders/sfu/upload-track.job.ts";
import { startTestApp, type TestApp } from "../support/app.ts";
import { fixtureDir, makeAudioWebm, makeWeriftVideoWebm } from "../support/media-fixtures.ts";
import type { Room } from "../support/api-types.ts";

// A session's SFU recording finished by a node that does not have its spool (scale-out): node-a recorded
// the tracks and died; node-b, a worker, takes its jobs over. Tracks that were uploaded before node-a
// died are fetched from the bucket and make the composite and the per-peer MP4s; a track that never
// reached the bucket is lost: left out (its stream and its track upload fail, each with a webhook that
// names the dead node), while the composite of what exists still succeeds. A session that went on on
// node-b after node-a died mixes both: node-b's own files and node-a's uploads. The track files are
// made by ffmpeg in the SFU recorder's shape. PostgreSQL only: a cluster is nodes on one PostgreSQL.

const SESSION_MS = 4_000;
/** Each track file's length. */
const TRACK_MS = 3_000;

describe("SFU recording finished from what reached storage when its node died", () => {
  let app: TestApp;
  const media = fixtureDir("tapedeck-takeover-");
  let video = "";
  let audio = "";
  const handlers = (): Partial<JobHandlers> => ({
    "upload-track": uploadTrackHandler(app.ctx),
    "process-session": processSessionHandler(app.ctx),
    "composite-progress": compositeProgressHandler(app.ctx),
  });
  /** A node's job runner (the test's own: the app runs without the worker role). */
  const runner = (id: string, claims: "all" | "own", only?: keyof JobHandlers) => {
    const all = handlers();
    return new JobRunner({
      db: app.ctx.db,
      dialect: "postgres",
      node: { id, claims },
      handlers: only ? { [only]: all[only] } : all,
      log: createLogger("silent"),
    });
  };

  before(async () => {
    app = await startTestApp({ dialect: "postgres", env: { TAPEDECK_ROLES: "api" } });
    video = await makeWeriftVideoWebm(path.join(media.dir, "video.webm"), {
      seconds: TRACK_MS / 1000,
      width: 320,
      height: 180,
      fps: 15,
      gop: 15,
    });
    audio = await makeAudioWebm(path.join(media.dir, "audio.webm"), { seconds: TRACK_MS / 1000 });
  });
  afterEach(() => setLocalNode(null));
  after(async () => {
    await app.close();
    media.remove();
  });

  const at = (origin: number, ms: number) => new Date(origin + ms).toISOString();

  /** A room with every SFU recording on, a closed-to-be session that started SESSION_MS ago, and its recording. */
  async function recordedSession(name: string, o: { active?: boolean } = {}) {
    const roomId = (await app.api<Room>("POST", "/v2/rooms", { name })).body.id as string;
    const room: RoomRow = await getRoom(app.ctx.db, roomId);
    const origin = Date.now() - SESSION_MS;
    const sessionId = newObjectId();
    await app.ctx.db
      .insertInto("sessions")
      .values({
        id: sessionId,
        room_id: roomId,
        customer_id: room.customer_id,
        app_id: room.app_id,
        active: 1,
        created_at: at(origin, 0),
        updated_at: at(origin, 0),
        ended_at: null,
      })
      .execute();
    const rec = await openSfuRecording(
      app.ctx.db,
      room,
      { id: sessionId, startedAt: at(origin, 0) },
      { settings: { track: true, stream: true, composite: true }, chunkMs: 3_000 },
    );
    if (!o.active) {
      // Never a progress job here: those of a live session are the last test's.
      await app.ctx.db.deleteFrom("jobs").where("key", "like", `composite-progress:${rec.id}:%`).execute();
    }
    return { room, roomId, sessionId, recordingId: rec.id, origin };
  }

  type Session = Awaited<ReturnType<typeof recordedSession>>;

  async function peer(s: Session, o: { name: string; node: string; joinMs: number }) {
    const id = newObjectId();
    await app.ctx.db
      .insertInto("peers")
      .values({
        id,
        session_id: s.sessionId,
        room_id: s.roomId,
        name: o.name,
        role: "host",
        user_id: `user-${o.name}`,
        user_data: "",
        joined_at: at(s.origin, o.joinMs),
        left_at: at(s.origin, SESSION_MS),
        leave_reason: null,
        node_id: o.node,
      })
      .execute();
    return id;
  }

  /** A track recorded into the spool of the node running now (its file from the fixtures), closed or still `recording`. */
  async function track(s: Session, o: { peerId: string; kind: "audio" | "video"; startMs: number; state?: "finished" | "recording" }) {
    const streamId = `stream-${o.peerId}`;
    const trackId = `${o.kind}-${o.peerId}`;
    const file = trackSpoolFile(app.dataDir, { sessionId: s.sessionId, peerId: o.peerId, streamId, trackId });
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.copyFileSync(o.kind === "video" ? video : audio, file);
    const id = newObjectId();
    const state = o.state ?? "finished";
    await app.ctx.db
      .insertInto("recorded_tracks")
      .values({
        id,
        recording_id: s.recordingId,
        room_id: s.roomId,
        session_id: s.sessionId,
        peer_id: o.peerId,
        stream_id: streamId,
        track_id: trackId,
        kind: o.kind,
        source: o.kind === "video" ? "camera" : "microphone",
        file,
        state,
        upload: "pending",
        started_at: at(s.origin, o.startMs - 100),
        first_media_at: at(s.origin, o.startMs),
        ended_at: state === "finished" ? at(s.origin, o.startMs + TRACK_MS) : null,
        bytes: state === "finished" ? fs.statSync(file).size : null,
      })
      .execute();
    const payload: UploadTrackPayload = {
      roomId: s.roomId,
      sessionId: s.sessionId,
      sessionStartedAt: at(s.origin, 0),
      peerId: o.peerId,
      recordingId: s.recordingId,
      streamId,
      trackId,
      trackType: o.kind,
      recordedTrackId: id,
      file,
      startedAt: at(s.origin, o.startMs - 100),
      endedAt: at(s.origin, o.startMs + TRACK_MS),
    };
    // As the track recorder does when the track ends: its upload queued (pinned to the node running now).
    if (state === "finished")
      await enqueueJob(app.ctx.db, { type: "upload-track", key: `upload-track:${s.sessionId}:${o.peerId}:${trackId}`, payload });
    return { id, trackId, file };
  }

  /** node-a dies: its spool (tracks, rendered segments) with it; it is marked dead. */
  async function nodeADies(s: Session) {
    fs.rmSync(path.join(app.dataDir, "spool", "tracks", s.sessionId), { recursive: true, force: true });
    fs.rmSync(path.join(app.dataDir, "spool", "sessions", s.sessionId), { recursive: true, force: true });
    await app.ctx.db
      .insertInto("nodes")
      .values({
        id: "node-a",
        url: "http://127.0.0.1:1",
        roles: "sfu,worker",
        state: "dead",
        pid: 1,
        version: "test",
        load: "{}",
        started_at: at(s.origin, -60_000),
        heartbeat_at: at(s.origin, 0),
      })
      .onConflict((oc) => oc.column("id").doUpdateSet({ state: "dead" }))
      .execute();
  }

  async function closeSession(s: Session, as: string) {
    const endedAt = at(s.origin, SESSION_MS);
    await asNode(as, () =>
      app.ctx.db.transaction().execute(async (trx) => {
        await trx
          .updateTable("sessions")
          .set({ active: 0, ended_at: endedAt, updated_at: endedAt })
          .where("id", "=", s.sessionId)
          .execute();
        await closeSfuRecording(trx, s.sessionId, endedAt);
      }),
    );
  }

  const events = async (roomId: string, type: WebhookEventType) =>
    (await app.ctx.db.selectFrom("webhook_events").select("body").where("room_id", "=", roomId).where("type", "=", type).execute()).map(
      (e) => JSON.parse(e.body).data as Record<string, unknown>,
    );
  const jobOf = (key: string) => app.ctx.db.selectFrom("jobs").selectAll().where("key", "=", key).executeTakeFirstOrThrow();

  /** An output asset, downloaded from the internal bucket and probed. */
  async function probeAsset(recordingId: string, type: "room-composite-legacy" | "stream", peerId?: string) {
    const assets = await app.ctx.db
      .selectFrom("recording_assets")
      .selectAll()
      .where("job_id", "=", recordingId)
      .where("type", "=", type)
      .execute();
    const asset = assets.find((a) => !peerId || JSON.parse(a.metadata).peer_id === peerId);
    assert.ok(asset, `${type} asset${peerId ? ` of ${peerId}` : ""}`);
    const file = path.join(media.dir, `${asset.id}.mp4`);
    await pipeline(await app.ctx.storage.openLocation(asset.location).get(asset.object_key), fs.createWriteStream(file));
    const p = await probe(file);
    const kinds = p.streams.map((st) => `${st.codec_type}:${st.codec_name}`).sort();
    return { asset, probe: p, kinds };
  }

  test("taken over from a dead node: uploaded tracks make the outputs, a track never uploaded is left out and reported", async () => {
    setLocalNode("node-a");
    const s = await recordedSession("takeover");
    const ada = await peer(s, { name: "Ada", node: "node-a", joinMs: 0 });
    const bo = await peer(s, { name: "Bo", node: "node-a", joinMs: 500 });
    await track(s, { peerId: ada, kind: "video", startMs: 500 });
    await track(s, { peerId: ada, kind: "audio", startMs: 500 });
    // node-a uploads Ada's tracks, then Bo's is recorded and node-a dies before uploading it.
    assert.equal(await runner("node-a", "own", "upload-track").runOnce(), 2);
    const boAudio = await track(s, { peerId: bo, kind: "audio", startMs: 1_000 });
    await closeSession(s, "node-a");
    await nodeADies(s);

    setLocalNode("node-b");
    const ran = await runner("node-b", "all").runOnce();
    assert.equal(ran, 2, "node-b ran node-a's process-session and Bo's upload");

    // Bo's upload: failed at once (one attempt, no retry), with the webhook naming the dead node.
    const boJob = await jobOf(`upload-track:${s.sessionId}:${bo}:${boAudio.trackId}`);
    assert.equal(boJob.node_id, "node-a");
    assert.equal(boJob.state, "failed");
    assert.equal(boJob.attempts, 1);
    const [trackFailure] = await events(s.roomId, "track.recording.failure");
    assert.equal(trackFailure.track_id, boAudio.trackId);
    assert.equal(trackFailure.peer_id, bo);
    assert.match(String(trackFailure.error_message), /recorded on node node-a, which died before uploading it/);
    assert.equal(trackFailure.error_origin, "internal");
    assert.equal(
      (await app.ctx.db.selectFrom("recorded_tracks").select("upload").where("id", "=", boAudio.id).executeTakeFirstOrThrow()).upload,
      "failed",
    );

    // The composite, from Ada's uploads: recording.success, the session's length, video and audio.
    const rec = await app.ctx.db.selectFrom("recordings").selectAll().where("id", "=", s.recordingId).executeTakeFirstOrThrow();
    assert.equal(rec.status, "completed", rec.failure ?? "");
    const [success] = await events(s.roomId, "recording.success");
    assert.ok(success, "recording.success queued");
    const composite = await probeAsset(s.recordingId, "room-composite-legacy");
    assert.equal(success.recording_path, composite.asset.path);
    assert.deepEqual(composite.kinds, ["audio:aac", "video:h264"]);
    assert.ok(Math.abs(composite.probe.durationSeconds - SESSION_MS / 1000) < 0.5, `composite lasts ${composite.probe.durationSeconds} s`);

    // Ada's per-peer MP4; Bo's stream failed, naming the dead node.
    const adaStream = await probeAsset(s.recordingId, "stream", ada);
    assert.deepEqual(adaStream.kinds, ["audio:aac", "video:h264"]);
    assert.ok(Math.abs(adaStream.probe.durationSeconds - TRACK_MS / 1000) < 0.5, `Ada's stream lasts ${adaStream.probe.durationSeconds} s`);
    const streamOk = await events(s.roomId, "stream.recording.success");
    assert.deepEqual(
      streamOk.map((e) => e.peer_id),
      [ada],
    );
    const [streamFailure] = await events(s.roomId, "stream.recording.failure");
    assert.equal(streamFailure.peer_id, bo);
    assert.equal(streamFailure.stream_type, "audio");
    assert.match(String(streamFailure.error_message), /node node-a, which died before uploading it/);

    // Everything node-b fetched or rendered is gone once nothing needs it.
    assert.equal(fs.existsSync(path.join(app.dataDir, "spool", "sessions", s.sessionId)), false, "the session's work folder is removed");
  });

  test("a session that went on on another node: its own files and the dead node's uploads; a track cut off mid-recording is lost", async () => {
    setLocalNode("node-a");
    const s = await recordedSession("went-on");
    const adaOnA = await peer(s, { name: "Ada", node: "node-a", joinMs: 0 });
    const cy = await peer(s, { name: "Cy", node: "node-a", joinMs: 0 });
    await track(s, { peerId: adaOnA, kind: "video", startMs: 300 });
    assert.equal(await runner("node-a", "own", "upload-track").runOnce(), 1);
    // Cy's camera is still being written when node-a dies: never closed, never uploaded.
    const cyVideo = await track(s, { peerId: cy, kind: "video", startMs: 400, state: "recording" });
    await nodeADies(s);

    // Ada rejoins on node-b, which records her from then on; node-b closes the session.
    setLocalNode("node-b");
    const adaOnB = await peer(s, { name: "Ada", node: "node-b", joinMs: 800 });
    await track(s, { peerId: adaOnB, kind: "video", startMs: 900 });
    await track(s, { peerId: adaOnB, kind: "audio", startMs: 900 });
    await closeSession(s, "node-b");
    assert.equal((await jobOf(`process-session:${s.recordingId}`)).node_id, "node-b");
    // node-b's process-session, and its two uploads.
    assert.equal(await runner("node-b", "all").runOnce(), 3);

    const rec = await app.ctx.db.selectFrom("recordings").selectAll().where("id", "=", s.recordingId).executeTakeFirstOrThrow();
    assert.equal(rec.status, "completed", rec.failure ?? "");
    assert.equal((await events(s.roomId, "recording.success")).length, 1);
    const composite = await probeAsset(s.recordingId, "room-composite-legacy");
    assert.deepEqual(composite.kinds, ["audio:aac", "video:h264"]);
    assert.ok(Math.abs(composite.probe.durationSeconds - SESSION_MS / 1000) < 0.5, `composite lasts ${composite.probe.durationSeconds} s`);
    // Ada's first stay (node-a's upload, video only) and her second (node-b's own files).
    assert.deepEqual((await probeAsset(s.recordingId, "stream", adaOnA)).kinds, ["video:h264"]);
    assert.deepEqual((await probeAsset(s.recordingId, "stream", adaOnB)).kinds, ["audio:aac", "video:h264"]);

    // Cy's camera: closed without being taken for empty, its upload reported failed, its stream too.
    const cyRow = await app.ctx.db.selectFrom("recorded_tracks").selectAll().where("id", "=", cyVideo.id).executeTakeFirstOrThrow();
    assert.equal(cyRow.state, "finished");
    assert.equal(cyRow.upload, "failed");
    assert.equal(cyRow.ended_at, at(s.origin, SESSION_MS));
    const [trackFailure] = await events(s.roomId, "track.recording.failure");
    assert.equal(trackFailure.track_id, cyVideo.trackId);
    assert.match(String(trackFailure.error_message), /recorded on node node-a, which died before uploading it/);
    const [streamFailure] = await events(s.roomId, "stream.recording.failure");
    assert.equal(streamFailure.peer_id, cy);
    assert.equal(streamFailure.stream_type, "regular");
    assert.equal((await events(s.roomId, "track.recording.success")).length, 3);
  });

  test("every track lost with its node: recording.failed says so, not the client's INPUT_ERROR", async () => {
    setLocalNode("node-a");
    const s = await recordedSession("all-lost");
    const bo = await peer(s, { name: "Bo", node: "node-a", joinMs: 0 });
    await track(s, { peerId: bo, kind: "audio", startMs: 200 });
    await closeSession(s, "node-a");
    await nodeADies(s);
    setLocalNode("node-b");
    assert.equal(await runner("node-b", "all").runOnce(), 2);
    const rec = await app.ctx.db.selectFrom("recordings").selectAll().where("id", "=", s.recordingId).executeTakeFirstOrThrow();
    assert.equal(rec.status, "failed");
    const [failed] = await events(s.roomId, "recording.failed");
    assert.equal(failed.error_type, "API_ERROR");
    assert.equal(failed.error_origin, "internal");
    assert.match(String(failed.error_message), /node node-a, which died before uploading them/);
    assert.equal((await events(s.roomId, "recording.success")).length, 0);
  });

  test("composite progress of a live session taken over from a dead node ends without rendering or queuing more", async () => {
    setLocalNode("node-a");
    const s = await recordedSession("progress", { active: true });
    const ada = await peer(s, { name: "Ada", node: "node-a", joinMs: 0 });
    await track(s, { peerId: ada, kind: "video", startMs: 200, state: "recording" });
    await nodeADies(s);
    setLocalNode("node-b");
    const key = `composite-progress:${s.recordingId}:1`;
    await app.ctx.db.updateTable("jobs").set({ run_at: new Date().toISOString() }).where("key", "=", key).execute();
    assert.equal(await runner("node-b", "all", "composite-progress").runOnce(), 1);
    const job = await jobOf(key);
    assert.equal(job.state, "done");
    assert.equal(job.attempts, 1);
    const more = await app.ctx.db
      .selectFrom("jobs")
      .select("key")
      .where("key", "like", `composite-progress:${s.recordingId}:%`)
      .where("state", "=", "pending")
      .execute();
    assert.deepEqual(more, [], "no next tick");
    assert.equal(fs.existsSync(path.join(app.dataDir, "spool", "sessions", s.sessionId, "segments")), false, "nothing rendered");
  });
});
