import type { RecordedTrackRow } from "../../src/db/schema.ts";
import { newObjectId } from "../../src/ids.ts";
import { recordingDetails, type SfuRecordingDetails } from "../../src/recorders/sfu/sfu-recording.ts";
import type { TestApp } from "./app.ts";

// The few places where an end-to-end test reads or writes tapedeck's database instead of its API, each
// with why the API cannot do it. Everything else a test checks goes through /v2 (test/support/api-client.ts),
// the webhook receiver, the bucket or the pages, as a user would. Keep this list short: a new entry needs a
// reason the API cannot serve, not convenience.

/**
 * The SFU's recorded tracks of a peer or a session, with `first_media_at`: when the SFU wrote the track's
 * first frame (its timestamp 0; for video, the first keyframe). Why not the API: no API answer or webhook
 * carries that instant (a track asset has its duration only, `track.recording.started.success` comes
 * before the first frame), and the SFU-recording test times its scenario on it (how long each peer is
 * recorded alone or together) and checks the composite's grid at those instants.
 */
export async function recordedTracks(app: TestApp, where: { peerId?: string; sessionId?: string }): Promise<RecordedTrackRow[]> {
  let q = app.ctx.db.selectFrom("recorded_tracks").selectAll();
  if (where.peerId) q = q.where("peer_id", "=", where.peerId);
  if (where.sessionId) q = q.where("session_id", "=", where.sessionId);
  return q.orderBy("id").execute();
}

/**
 * How the SFU composite of a session was made: drawn live (and how late its file began after the session's
 * start), or rendered from the tracks in pieces (how many, and how many were left for after the close).
 * Why not the API: it is how the composite was made, not what was made; the user-visible outcome (the
 * file soon after the close) is checked through `recording.success`.
 */
export async function sfuCompositeMaking(app: TestApp, sessionId: string): Promise<Pick<SfuRecordingDetails, "composite" | "segments">> {
  const rec = await app.ctx.db
    .selectFrom("recordings")
    .selectAll()
    .where("session_id", "=", sessionId)
    .where("kind", "=", "sfu")
    .executeTakeFirstOrThrow();
  const { composite, segments } = recordingDetails(rec);
  return { composite, segments };
}

/** Every persisted job, for a failure message only (the job queue has no API). */
export async function jobsForDiagnostics(app: TestApp): Promise<unknown[]> {
  return app.ctx.db.selectFrom("jobs").selectAll().execute();
}

/**
 * `n` failed browser recordings in a room, written as the API writes a recording the recorder could not
 * start, each newer than the last. Why not the API: through it, each would be a real recorder (a Chromium
 * and an ffmpeg) started and failed; the dashboard list paging test needs thirty.
 */
export async function seedFailedBrowserRecordings(app: TestApp, roomId: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    ids.push(
      await seedBrowserRecording(app, {
        roomId,
        status: "failed",
        failure: { type: "MAX_RETRIES_REACHED", message: `seeded failure ${i}` },
        started: false,
      }),
    );
  }
  return ids;
}

/**
 * One browser recording row of a room (and session), finished as `status` with its default details;
 * returns its id. For the seeds above and a test's own (the dashboard's quality page: a report of two
 * hours), which need a recording the API would only make by recording that long.
 */
export async function seedBrowserRecording(
  app: TestApp,
  o: {
    id?: string;
    roomId: string;
    sessionId?: string | null;
    status: "completed" | "failed";
    failure?: { type: string; message: string } | null;
    /** false: it failed before it started (no started_at). */
    started?: boolean;
    stopReason?: string | null;
  },
): Promise<string> {
  const now = new Date().toISOString();
  const id = o.id ?? newObjectId();
  await app.ctx.db
    .insertInto("recordings")
    .values({
      id,
      kind: "beam",
      room_id: o.roomId,
      session_id: o.sessionId ?? null,
      status: o.status,
      meeting_url: "",
      destination: "",
      started_by: "",
      stopped_by: "",
      details: JSON.stringify({
        width: 1280,
        height: 720,
        audio_only: false,
        layout: "grid",
        roles: [],
        custom_url: "",
        max_duration_s: 14400,
        auto_stop_s: 300,
      }),
      failure: o.failure ? JSON.stringify(o.failure) : null,
      created_at: now,
      started_at: o.started === false ? null : now,
      stopped_at: now,
      updated_at: now,
      stop_reason: o.stopReason ?? null,
      paused: 0,
      worker: null,
      lease_until: null,
    })
    .execute();
  return id;
}

/**
 * `n` `beam.recording.success` events through the outbox, as emitting code writes them; returns their
 * ids, oldest first. Why not the API: there is no endpoint that makes an event; through the product each
 * would be a whole browser recording, and the delivery-log paging test needs a dozen.
 */
export async function seedWebhookEvents(app: TestApp, n: number, roomId = "seeded-room"): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    ids.push(await app.ctx.outbox.enqueue(app.ctx.db, { type: "beam.recording.success", data: { room_id: roomId, beam_id: `beam-${i}` } }));
  }
  return ids;
}
