import fs from "node:fs";
import path from "node:path";
import type { AppContext } from "../../app-context.ts";
import type { Db } from "../../db/database.ts";
import type { PeerRow, RecordedTrackRow, RecordingRow, RoomRow } from "../../db/schema.ts";
import { newObjectId } from "../../ids.ts";
import { enqueueJob } from "../../jobs/job-queue.ts";
import { findRecording, findSessionRecording, insertRecording, markPostProcessing } from "../core/recording.repository.ts";
import type { CompositeInput, PeerPresence, TrackRef } from "./composite-layout.ts";
import type { SfuRecordingSettings } from "../../templates/recording-settings.ts";
import { sfuRecording } from "./sfu-recorder.ts";

// The life of a session's SFU recording, kept as a `recordings` row of kind `sfu` (its details, webhooks
// and finish job declared in sfu-recorder.ts):
//   running          opened with the session (when the room records); tracks are written to the spool,
//                    and every chunk (TAPEDECK_COMPOSITE_CHUNK_SECONDS) a `composite-progress` job renders the composite's
//                    closed segments, so little is left to do at the end
//   post_processing  the session closed; a `process-session` job makes the per-peer MP4s, the
//                    composite and the chat CSV, uploads them, writes assets and webhooks
//   completed        everything is uploaded; spool files are removed once the track uploads are done too
//   failed           `failure` says why (the webhook's error_type and error); spool files are kept
//
// Every step is in the database, so a restart picks up where it stopped: a session left open by a crash
// is closed at start (its tracks are finished from what reached the disk) and processed as usual.

/** A live track file is read only this far behind real time (what werift has surely written). */
export const LIVE_SAFETY_MS = 4_000;

export interface SfuRecordingDetails {
  settings: SfuRecordingSettings;
  /** The recording's start in ms (the session's start): `<epoch>` in file names. */
  epoch: number;
  /** The composite is cut into pieces this long (from the session start) so they can render during the session. */
  chunkMs: number;
  /**
   * Where the composite came from: drawn live (its file began `startOffsetMs` after the session's start),
   * or rendered from the track files (`reason`: why the live one was not used, when there was one).
   */
  composite?: { from: "live"; startOffsetMs: number } | { from: "tracks"; reason?: string };
  /** How many composite segments there were, and how many were left to render after the close. */
  segments?: { total: number; renderedAfterClose: number };
  /** What post-processing finished, so a retry does not redo it or announce it twice. */
  done?: Record<string, "done" | "failed">;
}

export interface SfuRecordingRef {
  id: string;
  settings: SfuRecordingSettings;
  chunkMs: number;
}

export interface SfuRecordingOptions {
  settings: SfuRecordingSettings;
  chunkMs: number;
}

export const anyRecording = (s: SfuRecordingSettings): boolean => s.track || s.stream || s.composite;

/** The SFU recording's details, checked (sfu-recorder.ts; RecordingDetailsError names the field that is not what it should be). */
export function recordingDetails(rec: RecordingRow): SfuRecordingDetails {
  return sfuRecording.details(rec);
}

/** Opens the SFU recording of a session that just opened (inside its transaction). */
export async function openSfuRecording(
  trx: Db,
  room: RoomRow,
  session: { id: string; startedAt: string },
  o: SfuRecordingOptions,
): Promise<SfuRecordingRef> {
  const { settings, chunkMs } = o;
  const id = newObjectId();
  const epoch = Date.parse(session.startedAt);
  await insertRecording(trx, {
    id,
    kind: sfuRecording.kind,
    roomId: room.id,
    sessionId: session.id,
    startedBy: "auto",
    details: { settings, epoch, chunkMs } satisfies SfuRecordingDetails,
  });
  if (settings.composite || settings.stream) await queueCompositeProgress(trx, id, 1, new Date(epoch + chunkMs + LIVE_SAFETY_MS));
  return { id, settings, chunkMs };
}

export async function queueCompositeProgress(db: Db, recordingId: string, tick: number, runAt: Date): Promise<void> {
  await enqueueJob(db, {
    type: "composite-progress",
    key: `composite-progress:${recordingId}:${tick}`,
    payload: { recordingId, tick },
    runAt,
  });
}

/** The running SFU recording of a session, if it has one. */
export async function sessionRecording(db: Db, sessionId: string): Promise<SfuRecordingRef | null> {
  const rec = await findSessionRecording(db, { sessionId, kind: sfuRecording.kind });
  if (rec?.status !== "running") return null;
  const d = recordingDetails(rec);
  return { id: rec.id, settings: d.settings, chunkMs: d.chunkMs };
}

/** The session closed (inside its transaction): queue the post-processing. */
export async function closeSfuRecording(trx: Db, sessionId: string, stoppedAt: string): Promise<void> {
  const rec = await findSessionRecording(trx, { sessionId, kind: sfuRecording.kind, status: "running" });
  if (!rec) return;
  const job = sfuRecording.finishJob;
  await markPostProcessing(
    { db: trx },
    {
      id: rec.id,
      kind: sfuRecording.kind,
      set: { stopped_at: stoppedAt, stopped_by: "auto" },
      also: (t) => enqueueJob(t, { type: job, key: `${job}:${rec.id}`, payload: { recordingId: rec.id } }),
    },
  );
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, "_");

export function trackSpoolFile(dataDir: string, p: { sessionId: string; peerId: string; streamId: string; trackId: string }): string {
  return path.join(dataDir, "spool", "tracks", safe(p.sessionId), safe(p.peerId), safe(p.streamId), `${safe(p.trackId)}.webm`);
}

/** Where post-processing of a session writes (segments, MP4s, CSV) before uploading. */
export function sessionWorkDir(dataDir: string, sessionId: string): string {
  return path.join(dataDir, "spool", "sessions", safe(sessionId));
}

/**
 * Removes a completed recording's spool files once nothing needs them: post-processing is done and no
 * track upload is still pending. Called by whichever finishes last. Files of a failed recording or of a
 * track whose upload failed for good are kept (the only copy), and logged.
 */
export async function releaseSpool(ctx: Pick<AppContext, "db" | "config" | "log">, recordingId: string): Promise<boolean> {
  const rec = await findRecording(ctx.db, recordingId);
  if (rec?.status !== "completed") return false;
  const tracks = await ctx.db.selectFrom("recorded_tracks").selectAll().where("recording_id", "=", recordingId).execute();
  if (tracks.some((t) => t.upload === "pending")) return false;
  for (const t of tracks) {
    if (t.upload === "failed") ctx.log.warn({ file: t.file, track_id: t.track_id }, "track upload failed for good; its spool file is kept");
    else fs.rmSync(t.file, { force: true });
  }
  fs.rmSync(sessionWorkDir(ctx.config.dataDir, rec.session_id ?? ""), { recursive: true, force: true });
  removeEmptyDirs(path.join(ctx.config.dataDir, "spool", "tracks", safe(rec.session_id ?? "")));
  return true;
}

function removeEmptyDirs(dir: string): void {
  if (!fs.existsSync(dir)) return;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeEmptyDirs(path.join(dir, e.name));
  if (fs.readdirSync(dir).length === 0) fs.rmdirSync(dir);
}

/** Tracks usable as media: with a first frame written (finished, or still being written when live). */
export const usableTracks = (tracks: RecordedTrackRow[]): RecordedTrackRow[] =>
  tracks.filter((t) => t.first_media_at && (t.state === "recording" || (t.state === "finished" && Number(t.bytes) > 0)));

/**
 * A peer's video and audio for the composite: its first camera video (else its first screen share)
 * and its first microphone track. (A peer that published several cameras or republished shows the first.)
 */
export function peerMedia(tracks: RecordedTrackRow[], peerId: string, originMs: number): { video?: TrackRef; audio?: TrackRef } {
  const mine = usableTracks(tracks)
    .filter((t) => t.peer_id === peerId)
    .sort((a, b) => a.started_at.localeCompare(b.started_at));
  const ref = (t: RecordedTrackRow | undefined): TrackRef | undefined =>
    t
      ? {
          file: t.file,
          startMs: Date.parse(t.first_media_at!) - originMs,
          ...(t.state === "finished" && t.ended_at ? { endMs: Date.parse(t.ended_at) - originMs } : {}),
        }
      : undefined;
  return {
    video: ref(mine.find((t) => t.kind === "video" && t.source === "camera") ?? mine.find((t) => t.kind === "video")),
    audio: ref(mine.find((t) => t.kind === "audio")),
  };
}

/** The composite's input from the database: visible peers (not `__` roles), their presence and tracks. */
export function compositeInput(
  session: { startedAt: string; endedAt: string | null },
  peers: PeerRow[],
  tracks: RecordedTrackRow[],
  nowMs = Date.now(),
): CompositeInput {
  const origin = Date.parse(session.startedAt);
  const end = session.endedAt ? Date.parse(session.endedAt) : nowMs;
  const presence: PeerPresence[] = peers
    .filter((p) => !p.role.startsWith("__"))
    .map((p) => ({
      peerId: p.id,
      name: p.name,
      joinedAtMs: Math.max(0, Date.parse(p.joined_at) - origin),
      leftAtMs: p.left_at ? Date.parse(p.left_at) - origin : null,
      ...peerMedia(tracks, p.id, origin),
    }));
  return { sessionStartedAt: session.startedAt, durationMs: Math.max(0, end - origin), peers: presence };
}
