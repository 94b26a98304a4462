import fs from "node:fs";
import type { AppContext } from "../../app-context.ts";
import type { RecordingRow, RoomRow } from "../../db/schema.ts";
import { beamPath, objectKey } from "../../domain/storage-paths.ts";
import { captureWebhookBase } from "./capture-webhook.ts";
import type { Recorder } from "../core/recorder.ts";
import { beamDetails, type BeamDetails } from "./beam.service.ts";

// A browser recording ("beam") as the capture worker runs it: the page's recording is written to a
// fragmented MP4 spool file, uploaded to the room's destination while it grows (parts go up during the
// recording); a pause pauses the page's MediaRecorder, so the span is left out of the file; it is
// `running` as soon as the capture starts; a `beam-finish` job completes it (beam-finish.job.ts), from
// the spool file when the live upload failed or the worker died.

/** The keys every beam webhook shares. */
export function beamWebhookBase(rec: RecordingRow, room: RoomRow, d: BeamDetails, publicUrl: string): Record<string, unknown> {
  return {
    ...captureWebhookBase(rec, room, d, publicUrl),
    rtmp: [],
    session_started_at: d.session_started_at ?? "",
  };
}

export function beamRecorder(ctx: Pick<AppContext, "config" | "identity" | "storage">): Recorder<BeamDetails> {
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
    async whileRunning({ d, log, capture }, { dest, signal }) {
      log.info({ key: d.key }, "uploading the recording while it is made");
      try {
        const res = await ctx.storage.open(dest).put(d.key!, capture.follower.stream(), { contentType: "video/mp4", signal });
        d.uploaded_size = res.size;
      } catch (err) {
        log.warn({ err: (err as Error).message }, "live upload failed; the spool file is uploaded after the stop, with retries");
      }
    },

    pause: ({ capture }, paused) => (paused ? capture.pause() : capture.resume()),
    outputOnDisk: (d) => (d.spool && fs.existsSync(d.spool) ? fs.statSync(d.spool).size : 0),
  };
}
