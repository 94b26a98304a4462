import fs from "node:fs";
import type { AppContext } from "../../app-context.ts";
import type { RecordingRow, RoomRow } from "../../db/schema.ts";
import { beamPath, objectKey } from "../../domain/storage-paths.ts";
import type { UploadConfig } from "../../domain/upload-config.ts";
import { canResume, MIN_PART_SIZE, ResumableUpload, type ResumableUploadState, uploadInParts } from "../../storage/resumable-upload.ts";
import { captureWebhookBase } from "./capture-webhook.ts";
import { notePause } from "../core/known-gaps.ts";
import type { Recorder, RecorderRun } from "../core/recorder.ts";
import { beamDetails, type BeamDetails } from "./beam.service.ts";

// A browser recording ("beam") as the capture worker runs it: the page's recording is written to a
// fragmented MP4 spool file, uploaded to the room's destination while it grows (parts go up during the
// recording); a pause pauses the page's MediaRecorder (or the live compositor), so the span is left out
// of the file, and is noted in the details (`paused_spans`) for the file's quality report; it is
// `running` as soon as the capture starts; a `beam-finish` job completes it (beam-finish.job.ts), from
// the spool file when the live upload failed or the worker died.
//
// In a cluster the live upload is resumable (storage/resumable-upload.ts): its multipart state is in the
// details (`live_upload`), saved after each part, so when this node dies another one completes the
// upload from the parts already stored and finishes the recording from them (capture-states.ts recover).

/** The details of a beam while its live upload is resumable (cluster mode). */
export interface ResumableBeamDetails {
  live_upload?: ResumableUploadState;
}

/** The keys every beam webhook shares. */
export function beamWebhookBase(rec: RecordingRow, room: RoomRow, d: BeamDetails, publicUrl: string): Record<string, unknown> {
  return {
    ...captureWebhookBase(rec, room, d, publicUrl),
    rtmp: [],
    session_started_at: d.session_started_at ?? "",
  };
}

type RecorderContext = Pick<AppContext, "config" | "identity" | "storage">;

export function beamRecorder(ctx: RecorderContext): Recorder<BeamDetails> {
  return {
    kind: "beam",
    label: "browser recording",
    details: beamDetails,
    events: {
      started: "beam.started.success",
      stopped: "beam.stopped.success",
      failure: "beam.failure",
      success: "beam.recording.success",
    },
    states: { started: "Started", stopped: "Stopped", failure: "Failed" },
    webhookBase: (row, room, d) => beamWebhookBase(row, room, d, ctx.config.publicUrl),
    // The lifecycle webhooks say the recording is on (100ms: `recording_enabled`); the success does not.
    eventKeys: () => ({ recording_enabled: true }),
    finishJob: "beam-finish",
    limit: () => ({ max: ctx.config.recording.beamMax, setting: "TAPEDECK_BEAM_MAX" }),
    build: () => ({}),

    placeOutput(d, { roomId, spool, dest }) {
      d.spool = spool;
      d.relative_path = beamPath({ roomId, sessionStartedAt: d.session_started_at!, epoch: d.epoch! });
      d.key = objectKey(dest?.prefix, ctx.identity.customerId, d.relative_path);
    },

    // The upload follows the spool file while it grows; when it fails, beam-finish uploads the file, with retries.
    async whileRunning(run, { dest, signal }) {
      const { d, log, capture } = run;
      log.info({ key: d.key }, "uploading the recording while it is made");
      if (ctx.config.cluster.enabled && canResume(ctx.storage.open(dest))) return uploadResumable(ctx, run, dest, signal);
      try {
        const res = await ctx.storage.open(dest).put(d.key!, capture.follower.stream(), { contentType: "video/mp4", signal });
        d.uploaded_size = res.size;
      } catch (err) {
        log.warn({ err: (err as Error).message }, "live upload failed; the spool file is uploaded after the stop, with retries");
      }
    },

    // The pause is noted (and saved) as the capture applies it: the finish job lists it in the file's
    // quality report where it cut the file (core/known-gaps.ts pausesInFile).
    async pause(run, paused) {
      const noted = notePause((run.d.paused_spans ??= []), paused);
      await (paused ? run.capture.pause() : run.capture.resume());
      if (noted) await run.saveDetails();
    },
    outputOnDisk: (d) => (d.spool && fs.existsSync(d.spool) ? fs.statSync(d.spool).size : 0),
  };
}

/**
 * The cluster's live upload: one part at a time, each saved to the details once stored, so another node
 * can complete what was uploaded if this one dies. A failure aborts it; beam-finish uploads the spool.
 */
async function uploadResumable(
  ctx: RecorderContext,
  run: RecorderRun<BeamDetails>,
  dest: UploadConfig | null,
  signal: AbortSignal,
): Promise<void> {
  const { log, capture } = run;
  const d = run.d as BeamDetails & ResumableBeamDetails;
  const storage = ctx.storage.open(dest);
  if (!canResume(storage)) return;
  let up: ResumableUpload | undefined;
  try {
    up = await ResumableUpload.start(storage, { key: d.key!, location: ctx.storage.sealLocation(dest), contentType: "video/mp4", signal });
    d.live_upload = up.state;
    await run.saveDetails();
    const res = await uploadInParts(up, capture.follower.stream(), {
      // The smallest part S3 takes: when this node dies, at most the last 5 MiB are lost.
      partSize: MIN_PART_SIZE,
      signal,
      onPart: async (part) => {
        log.debug({ part: part.n, bytes: part.size }, "recording part uploaded");
        await run.saveDetails();
      },
    });
    d.uploaded_size = res.size;
    log.info({ key: d.key, bytes: res.size, parts: up.state.parts.length }, "live upload completed");
  } catch (err) {
    log.warn({ err: (err as Error).message }, "live upload failed; the spool file is uploaded after the stop, with retries");
    await up?.abort().catch((e: unknown) => log.warn({ err: (e as Error).message }, "could not abort the live multipart upload"));
    delete d.live_upload;
    await run.saveDetails().catch((e: unknown) => log.warn({ err: (e as Error).message }, "could not save the recording's details"));
  }
}
