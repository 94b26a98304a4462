import fsp from "node:fs/promises";
import path from "node:path";
import type { AppContext } from "../../app-context.ts";
import type { RecordingFailure } from "../../domain/recording-types.ts";
import { nowIso } from "../../ids.ts";
import type { JobHandler, JobPayloads } from "../../jobs/job-queue.ts";
import { describeMp4Failure, finishMp4Recording } from "../browser/beam-finish.job.ts";
import { commitOutputs, failRecording, failureEvent, finishJobHandler } from "../core/finish.ts";
import { rtmpRecorder } from "./rtmp-recorder.ts";
import { redactRtmpUrl } from "./rtmp-url.ts";

// After an external stream has stopped. Recorded (`recording: true`): its MP4 is finished exactly as a
// browser recording's (browser/beam-finish.job.ts: upload, thumbnails, chat CSV, `room-composite` asset,
// beam.recording.success, as 100ms sends for a recorded RTMP stream), even when every destination had
// failed (the recording was made). Not recorded: completed with no asset and no further webhook
// (rtmp.stopped.success said it ended), or, when every destination had failed, `failed` with
// rtmp.failure naming each URL's last error.

export type RtmpFinishPayload = JobPayloads["rtmp-finish"];

export function rtmpFinishHandler(ctx: AppContext): JobHandler<RtmpFinishPayload> {
  const rtmp = rtmpRecorder(ctx);
  return finishJobHandler(ctx, rtmp, {
    async run(t, jc) {
      const { rec, d, room } = t;
      if (d.recording) return finishMp4Recording(ctx, rtmp, t, jc);
      const work = path.join(ctx.config.dataDir, rtmp.kind, rec.id);
      if (d.all_failed) {
        const failure: RecordingFailure = {
          type: "INTERNAL_ERROR",
          origin: "destination",
          message: `every RTMP URL failed: ${(d.rtmp_failures ?? [])
            .map((f) => `${redactRtmpUrl(d.rtmp_urls[f.index] ?? "")}: ${f.message}`)
            .join("; ")}`,
        };
        const at = nowIso();
        const duration =
          rec.started_at && rec.stopped_at ? Math.round((Date.parse(rec.stopped_at) - Date.parse(rec.started_at)) / 1000) : 0;
        await failRecording(ctx, {
          recordingId: rec.id,
          kind: rtmp.kind,
          failure,
          event: failureEvent(rtmp, { row: rec, room, d, failure, code: 500, at, duration: Math.max(0, duration) }),
        });
        jc.log.warn({ recording_id: rec.id }, "external stream failed: every destination gave up");
      } else if (
        await commitOutputs(ctx, { assets: [], recording: { id: rec.id, kind: rtmp.kind, set: { worker: null, lease_until: null } } })
      ) {
        jc.log.info({ recording_id: rec.id }, "external stream completed (not recorded)");
      }
      await fsp.rm(work, { recursive: true, force: true });
    },
    describe: describeMp4Failure,
  });
}
