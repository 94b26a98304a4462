import type { AppContext } from "../../app-context.ts";
import { getRoom } from "../../rooms/room.service.ts";
import type { RecorderRun } from "../core/recorder.ts";
import { findRecording, inTransaction, requestRecordingStop, updateRecording } from "../core/recording.repository.ts";
import type { RtmpDetails } from "./external-stream.service.ts";
import type { RtmpFailure } from "./rtmp-fanout.ts";
import { rtmpWebhookBase } from "./rtmp-recorder.ts";
import { redactRtmpUrl } from "./rtmp-url.ts";

// One RTMP destination of a running external stream gave up (rtmp-push.ts: refused, dropped or too
// slow, MAX_ATTEMPTS times in a row): noted in the stream's details and said with `rtmp.failure`
// naming that URL (`rtmp: [{url}]`, error_type RTMP_URL_FAILED, `stream_running`), in one transaction.
// The others go on. When it was the last one, the stream is stopped (stop reason "failure: every RTMP
// URL failed"); its finish job then fails it (or, when recorded, completes its MP4).

export const URL_FAILED = "RTMP_URL_FAILED";
export const ALL_FAILED_REASON = "failure: every RTMP URL failed";

export async function urlFailed(ctx: AppContext, run: RecorderRun<RtmpDetails>, f: RtmpFailure, all: boolean): Promise<void> {
  const { d, log } = run;
  try {
    (d.rtmp_failures ??= []).push({ index: f.index, message: f.message, at: f.at });
    if (all) d.all_failed = true;
    const row = await findRecording(ctx.db, run.id, "rtmp");
    if (!row) return;
    const room = await getRoom(ctx.db, row.room_id);
    const message = `RTMP destination ${redactRtmpUrl(f.url)} failed: ${f.message}${all ? "; no destination is left, the stream stops" : "; the stream goes on to the other destinations"}`;
    await inTransaction(ctx.db, async (trx) => {
      await updateRecording(trx, run.id, { details: JSON.stringify(d) });
      await ctx.outbox.enqueue(trx, {
        type: "rtmp.failure",
        room: { id: room.id, webhook: room.webhook },
        data: {
          ...rtmpWebhookBase(row, room, d, ctx.config.publicUrl),
          rtmp: [{ url: f.url }],
          job_id: row.id,
          recording_enabled: d.recording,
          error_code: 500,
          error_type: URL_FAILED,
          error_message: message,
          error_origin: "destination",
          state_name: "Failed",
          state_timestamp: f.at,
          duration: row.started_at ? Math.max(0, Math.round((Date.parse(f.at) - Date.parse(row.started_at)) / 1000)) : 0,
          // tapedeck: which URL (its index in rtmp_urls), and whether the stream still runs.
          rtmp_url_index: f.index,
          stream_running: !all,
        },
      });
    });
    log.warn({ url_index: f.index, rtmp_url: redactRtmpUrl(f.url), all_failed: all }, "rtmp.failure sent for a destination");
    if (all) {
      log.error("every RTMP destination failed; stopping the external stream");
      await requestRecordingStop(ctx.db, { id: run.id, kind: "rtmp", reason: ALL_FAILED_REASON });
      ctx.events.emit("recording.requested", { kind: "rtmp" });
    }
  } catch (err) {
    log.error({ err, url_index: f.index }, "could not record an RTMP destination's failure");
  }
}
