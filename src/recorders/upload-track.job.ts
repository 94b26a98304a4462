import fs from "node:fs";
import type { AppContext } from "../app-context.ts";
import { insertAsset } from "../assets/asset.repository.ts";
import { trackPath } from "../domain/storage-paths.ts";
import type { JobHandler } from "../jobs/job-queue.ts";
import { getRoom, roomDestination } from "../rooms/room.service.ts";
import { releaseSpool } from "./sfu-recording.ts";
import { uploadRecording } from "./upload.ts";

// Uploads one recorded track from the spool to the room's destination (looked up now, so a fixed
// bucket configuration takes effect on the next retry), then, in one transaction, writes its asset and
// the `track.recording.success` webhook. The spool file stays for the session's post-processing (per-peer
// MP4s, composite) and is removed when both are done (releaseSpool). Retried (the file waits on disk)
// until the queue gives up, then `track.recording.failure`.

export interface UploadTrackPayload {
  file: string;
  /** The `recorded_tracks` row and the session's SFU recording. */
  recordedTrackId: string;
  recordingId: string;
  roomId: string;
  sessionId: string;
  sessionStartedAt: string;
  peerId: string;
  streamId: string;
  trackId: string;
  trackType: "audio" | "video";
  startedAt: string;
  endedAt: string;
}

export function uploadTrackHandler(ctx: AppContext): JobHandler {
  const base = (p: UploadTrackPayload) => ({ room_id: p.roomId, session_id: p.sessionId, peer_id: p.peerId, stream_id: p.streamId, track_id: p.trackId, track_type: p.trackType });
  const duration = (p: UploadTrackPayload) => Math.max(0, Math.round((Date.parse(p.endedAt) - Date.parse(p.startedAt)) / 1000));
  return {
    async run(p: UploadTrackPayload, { log }) {
      if (!fs.existsSync(p.file)) throw new Error(`spooled recording ${p.file} is missing`);
      const room = await getRoom(ctx.db, p.roomId);
      const up = await uploadRecording(ctx, await roomDestination(ctx, room), trackPath(p), p.file, "video/webm");
      await ctx.db.transaction().execute(async (trx) => {
        const asset = await insertAsset(trx, {
          jobId: p.recordingId, roomId: p.roomId, sessionId: p.sessionId, type: "track", path: up.path, objectKey: up.key,
          location: up.location, size: up.size, duration: duration(p),
          metadata: { track_id: p.trackId, stream_id: p.streamId, peer_id: p.peerId, track_type: p.trackType },
        });
        await ctx.outbox.enqueue(trx, {
          type: "track.recording.success",
          room: { id: room.id, webhook: room.webhook },
          data: { ...base(p), size: up.size, duration: duration(p), recording_id: asset.id, recording_path: asset.path, recording_presigned_url: up.url },
        });
        await trx.updateTable("recorded_tracks").set({ upload: "done" }).where("id", "=", p.recordedTrackId).execute();
      });
      log.info({ key: up.key, size: up.size }, "track recording uploaded");
      await releaseSpool(ctx, p.recordingId);
    },
    async onFailed(p: UploadTrackPayload, error: string) {
      await ctx.db.updateTable("recorded_tracks").set({ upload: "failed" }).where("id", "=", p.recordedTrackId).execute();
      await releaseSpool(ctx, p.recordingId);
      const room = await getRoom(ctx.db, p.roomId);
      await ctx.outbox.enqueue(ctx.db, {
        type: "track.recording.failure",
        room: { id: room.id, webhook: room.webhook },
        data: { ...base(p), size: fs.existsSync(p.file) ? fs.statSync(p.file).size : 0, duration: duration(p), recording_id: "", recording_path: "", error_message: error },
      });
    },
  };
}
