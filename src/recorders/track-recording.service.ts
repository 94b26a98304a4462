import path from "node:path";
import type { AppContext } from "../app-context.ts";
import type { RoomRow } from "../db/schema.ts";
import { enqueueJob } from "../jobs/job-queue.ts";
import type { Logger } from "../log.ts";
import type { PublishedTrack } from "../sfu/published-track.ts";
import { TrackRecorder } from "./track-recorder.ts";
import type { UploadTrackPayload } from "./upload-track.job.ts";

// Track recording for the SFU: starts a recorder when a track is published in a room that records,
// announces it (`track.recording.started.success`), and when the track ends (unpublished, peer gone,
// shutdown) finishes the file and queues its upload. Files live under `<data>/spool/tracks/` until
// uploaded, so a crash or an unreachable bucket loses nothing that was written.

export interface RecordingRoom {
  row: RoomRow;
  sessionId: string;
  sessionStartedAt: string;
}

interface Active {
  recorder: TrackRecorder;
  payload: Omit<UploadTrackPayload, "file" | "startedAt" | "endedAt">;
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

  spoolFile(p: { sessionId: string; peerId: string; streamId: string; trackId: string }): string {
    const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, "_");
    return path.join(this.ctx.config.dataDir, "spool", "tracks", safe(p.sessionId), safe(p.peerId), safe(p.streamId), `${safe(p.trackId)}.webm`);
  }

  async start(room: RecordingRoom, peerId: string, track: PublishedTrack): Promise<void> {
    const key = `${peerId}/${track.info.track_id}`;
    if (this.active.has(key)) return;
    const payload = {
      roomId: room.row.id, sessionId: room.sessionId, sessionStartedAt: room.sessionStartedAt, peerId,
      streamId: track.info.stream_id, trackId: track.info.track_id, trackType: track.info.kind,
    };
    const recorder = new TrackRecorder(track.track, this.spoolFile(payload));
    track.requestKeyframe(true); // the file starts at a keyframe: ask for one now
    this.active.set(key, { recorder, payload });
    this.log.info({ room_id: payload.roomId, peer_id: peerId, track_id: payload.trackId, file: recorder.file }, "track recording started");
    await this.ctx.outbox.enqueue(this.ctx.db, {
      type: "track.recording.started.success",
      room: { id: room.row.id, webhook: room.row.webhook },
      data: { room_id: payload.roomId, session_id: payload.sessionId, peer_id: peerId, stream_id: payload.streamId, track_id: payload.trackId, track_type: payload.trackType },
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
    if (done.bytes === 0) {
      this.log.warn({ track_id: a.payload.trackId, error: a.recorder.error?.message }, "track recording is empty; nothing to upload");
      return;
    }
    await enqueueJob(this.ctx.db, {
      type: "upload-track",
      key: `upload-track:${a.payload.sessionId}:${a.payload.peerId}:${a.payload.trackId}`,
      payload: { ...a.payload, file: done.file, startedAt: done.startedAt, endedAt: done.endedAt } satisfies UploadTrackPayload,
    });
    this.log.info({ track_id: a.payload.trackId, bytes: done.bytes }, "track recording finished; upload queued");
    this.onJobQueued();
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.active.keys()].map((k) => this.finishOne(k)));
  }
}
