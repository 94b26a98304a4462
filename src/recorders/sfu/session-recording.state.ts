import type { AppContext } from "../../app-context.ts";
import type { Db } from "../../db/database.ts";
import type { PeerRow, RecordedTrackRow, RecordingRow, RoomRow, SessionRow } from "../../db/schema.ts";
import { nowIso } from "../../ids.ts";
import type { JobContext } from "../../jobs/job-queue.ts";
import { MediaProcessError } from "../../media/process.ts";
import { getRoom } from "../../rooms/room.service.ts";
import { findRecording, updateRecording } from "../core/recording.repository.ts";
import { CompositeInputError } from "./composite.ts";
import { sfuRecording } from "./sfu-recorder.ts";
import type { SfuRecordingDetails } from "./sfu-recording.ts";

// What every step of the SFU recording's post-processing (session-recording.job.ts) works on: the
// closed session loaded once, the record of finished steps kept in the recording's details (so a retry
// redoes only what is left), and the rule for a media failure: retried, or reported.

/** Attempts before a media failure (ffmpeg) is reported instead of retried. */
const MEDIA_ATTEMPTS = 3;

/** An SFU recording with its session, room, peers and recorded tracks. */
export interface LoadedSession {
  rec: RecordingRow;
  details: SfuRecordingDetails;
  session: SessionRow;
  room: RoomRow;
  peers: PeerRow[];
  tracks: RecordedTrackRow[];
}

/** The SFU recording and what its steps read; null when it is gone or has no session. */
export async function loadSession(ctx: AppContext, recordingId: string): Promise<LoadedSession | null> {
  const rec = await findRecording(ctx.db, recordingId, sfuRecording.kind);
  if (!rec?.session_id) return null;
  const session = await ctx.db.selectFrom("sessions").selectAll().where("id", "=", rec.session_id).executeTakeFirstOrThrow();
  const room = await getRoom(ctx.db, rec.room_id);
  const peers = await ctx.db.selectFrom("peers").selectAll().where("session_id", "=", session.id).orderBy("joined_at").execute();
  const tracks = await ctx.db.selectFrom("recorded_tracks").selectAll().where("recording_id", "=", rec.id).orderBy("started_at").execute();
  return { rec, details: sfuRecording.details(rec), session, room, peers, tracks };
}

/** Whole seconds from `from` to `to` (now when null), never negative. */
export const seconds = (from: string, to: string | null) =>
  Math.max(0, Math.round(((to ? Date.parse(to) : Date.now()) - Date.parse(from)) / 1000));

/** A media failure worth retrying now, or one to report (after MEDIA_ATTEMPTS, or an input that cannot work). */
export function reportable(err: unknown, jc: JobContext): boolean {
  if (jc.signal.aborted) return false;
  if (err instanceof CompositeInputError) return true;
  return err instanceof MediaProcessError && jc.attempt >= MEDIA_ATTEMPTS;
}

/** Records a step's outcome in the recording's details (in `details` too, so later steps see it). */
export async function saveDone(
  db: Db,
  rec: RecordingRow,
  details: SfuRecordingDetails,
  step: string,
  outcome: "done" | "failed",
): Promise<void> {
  details.done = { ...details.done, [step]: outcome };
  await updateRecording(db, rec.id, { details: JSON.stringify(details), updated_at: nowIso() });
}
