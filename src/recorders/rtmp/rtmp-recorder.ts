import fs from "node:fs";
import path from "node:path";
import type { AppContext } from "../../app-context.ts";
import type { RecordingRow, RoomRow } from "../../db/schema.ts";
import { beamPath, objectKey } from "../../domain/storage-paths.ts";
import { webmPipeInputArgs } from "../../media/ffmpeg-args.ts";
import { outboundPolicy } from "../../net/outbound-policy.ts";
import { captureWebhookBase } from "../browser/capture-webhook.ts";
import type { Recorder } from "../core/recorder.ts";
import { rtmpDetails, type RtmpDetails } from "./external-stream.service.ts";
import { RtmpFanout } from "./rtmp-fanout.ts";
import { urlFailed } from "./rtmp-failures.ts";

// An external stream (RTMP out) as the capture worker runs it: the recorder page captured as for a
// browser recording; one ffmpeg takes the page's WebM, copies its H.264 (Chromium's encode, a keyframe
// every 2 s) and encodes its Opus to AAC once, and writes, through ffmpeg's tee muxer, FLV on stdout for
// the fan-out (rtmp-fanout.ts: one `-c copy` ffmpeg per RTMP URL, each restartable on its own) and,
// when the stream is recorded, the same packets as fragmented MP4 to the spool file (a disk failure
// there never stops the stream: onfail=ignore). There is no pause. The `rtmp-finish` job uploads the
// MP4 after the stop, as a browser recording's (room-composite at the beam path, beam.recording.success).
//
// Webhooks: rtmp.started.success, rtmp.stopped.success, rtmp.failure with 100ms's beam fields (`rtmp`:
// [{url}], `recording_enabled`); 100ms itself sends beam.* for RTMP streams: see docs/rtmp.md.

/** The fan-out of each running stream, by its details object (the worker hands the same one to every hook). */
const fanouts = new WeakMap<RtmpDetails, RtmpFanout>();

/** The keys every webhook of an external stream carries (100ms's beam fields, `rtmp` listing its URLs). */
export function rtmpWebhookBase(rec: RecordingRow, room: RoomRow, d: RtmpDetails, publicUrl: string): Record<string, unknown> {
  return {
    ...captureWebhookBase(rec, room, d, publicUrl),
    rtmp: d.rtmp_urls.map((url) => ({ url })),
    session_started_at: d.session_started_at ?? "",
  };
}

/** A tee slave's file name, escaped as the tee muxer reads it. */
const teeEscape = (s: string) => s.replace(/[\\|[\]:']/g, (c) => `\\${c}`);

/** The encoder: WebM on stdin; FLV on stdout, and the MP4 spool when `spool` is given. */
export function rtmpEncoderArgs(spool: string | null): string[] {
  const mp4 = "f=mp4:movflags=+frag_keyframe+empty_moov+default_base_moof:frag_duration=1000000:onfail=ignore";
  return [
    ...webmPipeInputArgs(),
    ...["-map", "0:v", "-map", "0:a?", "-c:v", "copy", "-c:a", "aac", "-b:a", "128k", "-ar", "48000"],
    ...(spool
      ? ["-flags", "+global_header", "-f", "tee", `[f=flv:onfail=abort]pipe\\:1|[${mp4}]${teeEscape(spool)}`]
      : ["-f", "flv", "pipe:1"]),
  ];
}

export function rtmpRecorder(ctx: AppContext, o: { backoffMs?: number[] } = {}): Recorder<RtmpDetails> {
  const rtmp: Recorder<RtmpDetails> = {
    kind: "rtmp",
    label: "external stream",
    details: rtmpDetails,
    events: {
      started: "rtmp.started.success",
      stopped: "rtmp.stopped.success",
      failure: "rtmp.failure",
      // 100ms: a recorded RTMP stream's MP4 comes as beam.recording.success.
      success: "beam.recording.success",
    },
    states: { started: "Started", stopped: "Stopped", failure: "Failed" },
    webhookBase: (row, room, d) => rtmpWebhookBase(row, room, d, ctx.config.publicUrl),
    eventKeys: (_event, row) => ({ recording_enabled: rtmpDetails(row).recording }),
    finishJob: "rtmp-finish",
    // Watched as it is made: its encoder's lag behind real time goes into the recorded MP4's quality report.
    live: true,
    limit: () => ({ max: ctx.config.recording.beamMax, setting: "TAPEDECK_BEAM_MAX" }),

    build({ dir, d, log }) {
      const spool = path.join(dir, "recording.mp4");
      fs.rmSync(spool, { force: true });
      if (d.recording) d.spool = spool;
      const fanout = new RtmpFanout(d.rtmp_urls, { policy: outboundPolicy(ctx.config.outbound), log, backoffMs: o.backoffMs });
      fanouts.set(d, fanout);
      log.info({ destinations: fanout.pushes.map((p) => p.shown), recording: d.recording }, "external stream destinations");
      return { ffmpegArgs: rtmpEncoderArgs(d.recording ? spool : null), stdout: fanout };
    },

    placeOutput(d, { roomId, dest }) {
      if (!d.recording) return;
      d.relative_path = beamPath({ roomId, sessionStartedAt: d.session_started_at!, epoch: d.epoch! });
      d.key = objectKey(dest?.prefix, ctx.identity.customerId, d.relative_path);
    },

    // Each destination that gives up is said (rtmp.failure naming it); when all have, the stream stops.
    async whileRunning(run) {
      const fanout = fanouts.get(run.d);
      if (!fanout) return;
      fanout.watchFailures((f) => void urlFailed(ctx, run, f, fanout.allFailed));
      await fanout.ended;
    },

    // An external stream has no pause (100ms has none): nothing to do.
    pause: async () => undefined,

    outputOnDisk(d) {
      if (d.recording) return d.spool && fs.existsSync(d.spool) ? fs.statSync(d.spool).size : 0;
      return fanouts.get(d)?.bytesIn ? 1 : 0;
    },
  };
  return rtmp;
}
