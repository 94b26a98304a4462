import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import type { AppContext } from "../../app-context.ts";
import { beamThumbnailPath, chatPath } from "../../domain/storage-paths.ts";
import type { JobContext, JobHandler, JobPayloads } from "../../jobs/job-queue.ts";
import { nowIso } from "../../ids.ts";
import {
  chatAsset,
  commitOutputs,
  finishJobHandler,
  probeMp4,
  uploadChatCsv,
  type FinishTarget,
  type UploadedChat,
} from "../core/finish.ts";
import { describeBrowserFailure } from "../core/recording-failure.ts";
import { gapsWithin, liveQuality, pausesInFile } from "../core/known-gaps.ts";
import { deliverQuality, measuredQualityFile, qualityWebhookKeys } from "../core/quality.ts";
import { makeThumbnails, type Thumbnails } from "../core/thumbnails.ts";
import { uploadRecording, WEBHOOK_PRESIGN_SECONDS } from "../core/upload.ts";
import { roomDestination } from "../../rooms/room.service.ts";
import { beamRecorder } from "./beam-recorder.ts";
import { failureOf, type BeamDetails } from "./beam.service.ts";
import type { Recorder } from "../core/recorder.ts";
import type { RecordingFailure } from "../../domain/recording-types.ts";

// After a browser recording's capture has ended: make sure the MP4 is in the destination (normally the
// live upload already put it there; if that failed, upload the spool file now, retried by the job queue
// with backoff for up to 7 days while the file waits on disk), upload the chat CSV of the recorded span,
// write the `room-composite` and `chat` assets and `beam.recording.success`, mark the recording
// completed and remove the spool. When the queue gives up: `failed` and `beam.failure`, with
// UPLOAD_ERROR when the upload gave up (error_origin: the user's bucket or tapedeck's), else INTERNAL_ERROR.
// Thumbnails (core/thumbnails.ts) are made from the spool file, uploaded beside the MP4, listed in the
// asset's `thumbnails` and sent as `recording_thumbnails`; a thumbnail failure leaves them empty, no more.

export type BeamFinishPayload = JobPayloads["beam-finish"];

export function beamFinishHandler(ctx: AppContext): JobHandler<BeamFinishPayload> {
  const beam = beamRecorder(ctx);
  return finishJobHandler(ctx, beam, {
    run: (t, jc) => finishMp4Recording(ctx, beam, t, jc),
    describe: describeMp4Failure,
  });
}

/**
 * Finishes a captured recording whose output is the MP4 spool (a browser recording, a recorded external
 * stream): the upload (unless the live upload did it), thumbnails, the chat CSV, the `room-composite`
 * and `chat` assets, and `kind.events.success`, committed with the recording's completion; the spool
 * folder is removed once committed.
 */
export async function finishMp4Recording<D extends BeamDetails>(
  ctx: AppContext,
  kind: Recorder<D>,
  { rec, d, room }: FinishTarget<D>,
  { log, signal }: JobContext,
): Promise<void> {
  const dest = await roomDestination(ctx, room);
  const storage = ctx.storage.open(dest);
  if (!d.key || !d.spool) throw new Error("recording has no spool file or key: it never captured anything");
  let size = d.uploaded_size ?? null;
  if (size === null) {
    if (!fs.existsSync(d.spool)) throw new Error(`spooled recording ${d.spool} is missing`);
    const up = await uploadRecording(ctx, dest, d.relative_path!, d.spool, "video/mp4");
    size = up.size;
    log.info({ key: up.key, size }, `${kind.label} uploaded from the spool`);
  }
  const probe = fs.existsSync(d.spool) ? await probeMp4(d.spool, { signal, log }) : { duration: 0, width: d.width, height: d.height };
  const url = await storage.presignGet(d.key, WEBHOOK_PRESIGN_SECONDS);
  const location = ctx.storage.sealLocation(dest);
  const owner = { jobId: rec.id, roomId: room.id, sessionId: rec.session_id ?? "" };

  const at = { roomId: room.id, sessionStartedAt: d.session_started_at!, epoch: d.epoch! };
  const thumbs: Thumbnails = d.audio_only
    ? { thumbnails: [], skipped: "an audio-only recording has no picture" }
    : fs.existsSync(d.spool)
      ? await makeThumbnails(ctx, {
          room,
          rec,
          input: d.spool,
          durationSeconds: probe.duration,
          dir: path.join(path.dirname(d.spool), "thumbnails"),
          dest,
          pathFor: (offset) => beamThumbnailPath({ ...at, offset }),
          signal,
          log,
        })
      : { thumbnails: [], skipped: "the spool file is gone" };

  // Its quality report: measured while it was recorded when the capture left one, else now; with what
  // the capture knew (its gaps; a live output's encoder lag) and each pause where it cut the file (the
  // file's time 0 is the capture's start, d.epoch).
  const gaps = gapsWithin(
    [...(d.gaps ?? []), ...pausesInFile(d.paused_spans, d.epoch ?? 0, rec.stopped_at ? Date.parse(rec.stopped_at) : null)],
    probe.duration,
  ).sort((a, b) => a.start - b.start);
  const quality = fs.existsSync(d.spool)
    ? await deliverQuality(ctx, {
        file: d.spool,
        dest,
        relativePath: d.relative_path!,
        forType: "room-composite",
        forPath: storage.displayPath(d.key),
        measured: measuredQualityFile(d.spool),
        gaps,
        live: liveQuality(d),
        expectVideo: !d.audio_only,
        expectAudio: true,
        signal,
        log,
      })
    : null;

  // Chat of the recorded span: messages to everyone or to roles, from the recorder's start to its stop.
  let chat: UploadedChat | null = null;
  if (rec.session_id && rec.started_at) {
    chat = await uploadChatCsv(ctx, {
      sessionId: rec.session_id,
      span: { from: rec.started_at, to: rec.stopped_at ?? nowIso() },
      file: path.join(path.dirname(d.spool), "chat.csv"),
      dest,
      relativePath: chatPath(at),
    });
  }

  const committed = await commitOutputs(ctx, {
    replace: { jobId: rec.id, types: ["chat", "quality"] },
    assets: [
      {
        ...owner,
        type: "room-composite",
        path: storage.displayPath(d.key),
        objectKey: d.key,
        location,
        size,
        duration: probe.duration,
        metadata: { resolution: { width: probe.width || d.width, height: probe.height || d.height } },
        thumbnails: thumbs.thumbnails.length ? thumbs.thumbnails.map((t) => t.location) : null,
      },
      ...(chat ? [chatAsset(owner, chat)] : []),
    ],
    recording: { id: rec.id, kind: kind.kind, set: { worker: null, lease_until: null } },
    quality: { owner, reports: [quality] },
    event: ([asset]) => ({
      type: kind.events.success,
      room: { id: room.id, webhook: room.webhook },
      data: {
        ...kind.webhookBase(rec, room, d),
        created_at: rec.created_at,
        started_at: rec.started_at,
        stopped_at: rec.stopped_at,
        duration: probe.duration,
        location: asset.path,
        recording_id: asset.id,
        recording_path: asset.path,
        recording_presigned_url: url,
        recording_thumbnails: thumbs.thumbnails,
        chat_recording_path: chat?.path ?? "",
        chat_recording_presigned_url: chat?.url ?? "",
        size,
        ...qualityWebhookKeys(quality),
        ...(failureOf(rec) ? { error: failureOf(rec) } : {}),
      },
    }),
  });
  if (!committed) return;
  log.info(
    {
      recording_id: rec.id,
      size,
      duration: probe.duration,
      chat: !!chat,
      thumbnails: thumbs.thumbnails.length,
      thumbnails_skipped: thumbs.skipped,
      quality: quality?.report.grade ?? null,
    },
    `${kind.label} completed`,
  );
  await fsp.rm(path.dirname(d.spool), { recursive: true, force: true });
}

/** A finish that gave up: UPLOAD_ERROR (the MP4 could not be delivered) or INTERNAL_ERROR, as 100ms words them. */
export function describeMp4Failure(error: unknown): RecordingFailure {
  const f = describeBrowserFailure(error);
  return {
    ...f,
    message:
      f.type === "UPLOAD_ERROR"
        ? `Failed to upload recordings. Check if upload config is correct. (${f.message})`
        : `Failed to finish the recording: ${f.message}`,
  };
}
