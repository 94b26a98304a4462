import fs from "node:fs";
import type { AppContext } from "../../app-context.ts";
import { trackPath } from "../../domain/storage-paths.ts";
import { localNode } from "../../config/local-node.ts";
import type { RecordingFailure, SfuErrorType } from "../../domain/recording-types.ts";
import { type JobContext, JobGaveUp, type JobHandler, type JobPayloads } from "../../jobs/job-queue.ts";
import { getRoom, roomDestination } from "../../rooms/room.service.ts";
import { commitOutputs } from "../core/finish.ts";
import { describeSfuFailure } from "../core/recording-failure.ts";
import { releaseSpool } from "./sfu-recording.ts";
import { uploadRecording } from "../core/upload.ts";

// Uploads one recorded track from the spool to the room's destination (looked up now, so a fixed
// bucket configuration takes effect on the next retry), then, in one transaction, writes its asset and
// the `track.recording.success` webhook. The spool file stays for the session's post-processing (per-peer
// MP4s, composite) and is removed when both are done (releaseSpool). Retried (the file waits on disk)
// until the queue gives up, then `track.recording.failure` (with error_origin: the user's bucket or ours).
// In a cluster the job is pinned to the node whose spool holds the file; taken over from a dead node
// (the file died with it), it gives up at once: no retry can bring the file back.

export type UploadTrackPayload = JobPayloads["upload-track"];

const base = (p: UploadTrackPayload) => ({
  room_id: p.roomId,
  session_id: p.sessionId,
  peer_id: p.peerId,
  stream_id: p.streamId,
  track_id: p.trackId,
  track_type: p.trackType,
});
const duration = (p: UploadTrackPayload) => Math.max(0, Math.round((Date.parse(p.endedAt) - Date.parse(p.startedAt)) / 1000));

/** Why a track recorded on `node` can never be uploaded: the node died with the only copy. */
export const lostWithNodeMessage = (node: string) =>
  `the track was recorded on node ${node}, which died before uploading it: its recording is lost`;

/**
 * A track whose upload will never happen: its upload marked failed, `track.recording.failure` queued
 * (the same for a job the queue gave up on and for a track the session's post-processing finds lost).
 */
export async function reportTrackFailure(
  ctx: Pick<AppContext, "db" | "outbox" | "config" | "log">,
  p: UploadTrackPayload,
  failure: RecordingFailure<SfuErrorType>,
): Promise<void> {
  await ctx.db.updateTable("recorded_tracks").set({ upload: "failed" }).where("id", "=", p.recordedTrackId).execute();
  await releaseSpool(ctx, p.recordingId);
  const room = await getRoom(ctx.db, p.roomId);
  await ctx.outbox.enqueue(ctx.db, {
    type: "track.recording.failure",
    room: { id: room.id, webhook: room.webhook },
    templateId: room.template_id,
    data: {
      ...base(p),
      size: fs.existsSync(p.file) ? fs.statSync(p.file).size : 0,
      duration: duration(p),
      recording_id: "",
      recording_path: "",
      error_message: failure.message,
      error_origin: failure.origin,
    },
  });
}

/** The job was queued by another node (now dead: that is why this one runs it); null when it is this node's own. */
export function takenOverFrom(jc: Pick<JobContext, "job">): string | null {
  const pinned = jc.job.node_id;
  return pinned && pinned !== localNode() ? pinned : null;
}

export function uploadTrackHandler(ctx: AppContext): JobHandler<UploadTrackPayload> {
  return {
    async run(p, jc) {
      const { log } = jc;
      if (!fs.existsSync(p.file)) {
        const deadNode = takenOverFrom(jc);
        if (deadNode) {
          log.error({ node: deadNode, track_id: p.trackId, file: p.file }, "track recorded on a dead node is not here: cannot be uploaded");
          throw new JobGaveUp(lostWithNodeMessage(deadNode));
        }
        throw new Error(`spooled recording ${p.file} is missing`);
      }
      const room = await getRoom(ctx.db, p.roomId);
      const up = await uploadRecording(ctx, await roomDestination(ctx, room), trackPath(p), p.file, "video/webm");
      await commitOutputs(ctx, {
        assets: [
          {
            jobId: p.recordingId,
            roomId: p.roomId,
            sessionId: p.sessionId,
            type: "track",
            path: up.path,
            objectKey: up.key,
            location: up.location,
            size: up.size,
            duration: duration(p),
            metadata: { track_id: p.trackId, stream_id: p.streamId, peer_id: p.peerId, track_type: p.trackType },
          },
        ],
        event: ([asset]) => ({
          type: "track.recording.success",
          room: { id: room.id, webhook: room.webhook },
          templateId: room.template_id,
          data: {
            ...base(p),
            size: up.size,
            duration: duration(p),
            recording_id: asset.id,
            recording_path: asset.path,
            recording_presigned_url: up.url,
          },
        }),
        also: async (trx) => {
          await trx.updateTable("recorded_tracks").set({ upload: "done" }).where("id", "=", p.recordedTrackId).execute();
        },
      });
      log.info({ key: up.key, size: up.size }, "track recording uploaded");
      await releaseSpool(ctx, p.recordingId);
    },
    async onFailed(p, error) {
      await reportTrackFailure(ctx, p, describeSfuFailure(error));
    },
  };
}
