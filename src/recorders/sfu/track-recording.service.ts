import type { AppContext } from "../../app-context.ts";
import type { RoomRow } from "../../db/schema.ts";
import { enqueueJob } from "../../jobs/job-queue.ts";
import { newObjectId, nowIso } from "../../ids.ts";
import type { Logger } from "../../log.ts";
import type { PublishedTrack } from "../../sfu/published-track.ts";
import { trackSpoolFile, type SfuRecordingRef } from "./sfu-recording.ts";
import { type FinishedTrack, TrackRecorder } from "./track-recorder.ts";
import type { UploadTrackPayload } from "./upload-track.job.ts";

// Track recording for the SFU: starts a recorder when a track is published in a session that records
// (any of track, stream or composite recording: the last two are made from these files), and when the
// track ends (unpublished, peer gone, shutdown) finishes the file. Each file is a `recorded_tracks`
// row. With track recording on, its start is announced (`track.recording.started.success`) and its
// end queues its upload. Files live under `<data>/spool/tracks/` until every recording that needs them
// is uploaded (sfu-recording.ts releaseSpool), so a crash or an unreachable bucket loses nothing written.

export interface RecordingRoom {
  row: RoomRow;
  sessionId: string;
  sessionStartedAt: string;
  recording: SfuRecordingRef;
}

interface Active {
  recorder: TrackRecorder;
  rowId: string;
  inserted: Promise<unknown>;
  upload: boolean;
  payload: Omit<UploadTrackPayload, "file" | "startedAt" | "endedAt" | "recordedTrackId">;
  track: PublishedTrack;
  /** Its counters when the recording started (after its own keyframe request): the report counts what came while it recorded. */
  countsBefore: ReturnType<PublishedTrack["receiveCounts"]>;
}

/** recorded_tracks.stats: the SFU's counts while the track was recorded, and the sizes its recorder saw. */
function recordedCounts(a: Active, done: FinishedTrack) {
  const now = a.track.receiveCounts();
  return {
    packets: now.packets - a.countsBefore.packets,
    lost: Math.max(0, now.lost - a.countsBefore.lost),
    keyframe_requests: now.keyframeRequests - a.countsBefore.keyframeRequests,
    resolutions: done.stats.resolutions,
  };
}

export class TrackRecordingService {
  private readonly active = new Map<string, Active>();
  private readonly log: Logger;

  constructor(
    private readonly ctx: Pick<AppContext, "db" | "outbox" | "config" | "log">,
    private readonly onJobQueued: () => void = () => {},
  ) {
    this.log = ctx.log.child({ component: "track-recording" });
  }

  async start(room: RecordingRoom, peerId: string, track: PublishedTrack): Promise<void> {
    const key = `${peerId}/${track.info.track_id}`;
    if (this.active.has(key)) return;
    const payload = {
      roomId: room.row.id,
      sessionId: room.sessionId,
      sessionStartedAt: room.sessionStartedAt,
      peerId,
      recordingId: room.recording.id,
      streamId: track.info.stream_id,
      trackId: track.info.track_id,
      trackType: track.info.kind,
    };
    const file = trackSpoolFile(this.ctx.config.dataDir, payload);
    const exists = await this.ctx.db
      .selectFrom("recorded_tracks")
      .select("id")
      .where("session_id", "=", room.sessionId)
      .where("peer_id", "=", peerId)
      .where("track_id", "=", payload.trackId)
      .executeTakeFirst();
    if (exists || this.active.has(key)) {
      if (exists)
        this.log.warn(
          { peer_id: peerId, track_id: payload.trackId },
          "track republished with the same id: only its first publication is recorded",
        );
      return;
    }
    const rowId = newObjectId();
    const upload = room.recording.settings.track;
    const db = this.ctx.db;
    const inserted = db
      .insertInto("recorded_tracks")
      .values({
        id: rowId,
        recording_id: room.recording.id,
        room_id: payload.roomId,
        session_id: payload.sessionId,
        peer_id: peerId,
        stream_id: payload.streamId,
        track_id: payload.trackId,
        kind: payload.trackType,
        source: track.info.source,
        file,
        state: "recording",
        upload: upload ? "pending" : "none",
        started_at: nowIso(),
        first_media_at: null,
        ended_at: null,
        bytes: null,
        stats: null,
      })
      .execute();
    const recorder = new TrackRecorder(track.track, file, (at) => {
      // The composite renders this track while it is still being written: it needs its timestamp 0 now.
      void inserted
        .then(() => db.updateTable("recorded_tracks").set({ first_media_at: at }).where("id", "=", rowId).execute())
        .catch((err) => this.log.error({ err, track_id: payload.trackId }, "could not save the track's first frame time"));
    });
    track.requestKeyframe(true); // the file starts at a keyframe: ask for one now
    this.active.set(key, { recorder, payload, rowId, inserted, upload, track, countsBefore: track.receiveCounts() });
    await inserted;
    this.log.info({ room_id: payload.roomId, peer_id: peerId, track_id: payload.trackId, file: recorder.file }, "track recording started");
    if (!upload) return;
    await this.ctx.outbox.enqueue(this.ctx.db, {
      type: "track.recording.started.success",
      room: { id: room.row.id, webhook: room.row.webhook },
      // The envelope's template_id (100ms lists it on every event; the data keys of track events have none).
      templateId: room.row.template_id,
      data: {
        room_id: payload.roomId,
        session_id: payload.sessionId,
        peer_id: peerId,
        stream_id: payload.streamId,
        track_id: payload.trackId,
        track_type: payload.trackType,
      },
    });
  }

  /** Finishes the recordings of one track, or of every track of `peerId` when `trackId` is omitted. */
  async finish(peerId: string, trackId?: string): Promise<void> {
    const keys = [...this.active.keys()].filter((k) => (trackId ? k === `${peerId}/${trackId}` : k.startsWith(`${peerId}/`)));
    await Promise.all(keys.map((k) => this.finishOne(k)));
  }

  private async finishOne(key: string): Promise<void> {
    const a = this.active.get(key);
    if (!a) return;
    this.active.delete(key);
    const done = await a.recorder.stop();
    await a.inserted.catch(() => undefined);
    const empty = done.bytes === 0 || !done.firstMediaAt;
    await this.ctx.db.transaction().execute(async (trx) => {
      await trx
        .updateTable("recorded_tracks")
        .set({
          state: empty ? "empty" : "finished",
          ended_at: done.endedAt,
          bytes: done.bytes,
          first_media_at: done.firstMediaAt,
          stats: JSON.stringify(recordedCounts(a, done)),
          ...(empty ? { upload: "none" } : {}),
        })
        .where("id", "=", a.rowId)
        .execute();
      if (empty || !a.upload) return;
      await enqueueJob(trx, {
        type: "upload-track",
        key: `upload-track:${a.payload.sessionId}:${a.payload.peerId}:${a.payload.trackId}`,
        payload: {
          ...a.payload,
          recordedTrackId: a.rowId,
          file: done.file,
          startedAt: done.startedAt,
          endedAt: done.endedAt,
        } satisfies UploadTrackPayload,
      });
    });
    if (empty) {
      this.log.warn({ track_id: a.payload.trackId, error: a.recorder.error?.message }, "track recording is empty; nothing to upload");
      return;
    }
    this.log.info(
      { track_id: a.payload.trackId, bytes: done.bytes, upload: a.upload },
      a.upload ? "track recording finished; upload queued" : "track recording finished",
    );
    if (a.upload) this.onJobQueued();
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.active.keys()].map((k) => this.finishOne(k)));
  }
}
