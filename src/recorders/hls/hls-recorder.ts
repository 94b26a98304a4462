import fs from "node:fs";
import path from "node:path";
import type { AppContext } from "../../app-context.ts";
import type { RecordingRow, RoomRow } from "../../db/schema.ts";
import { captureWebhookBase } from "../browser/capture-webhook.ts";
import { notePause } from "../core/known-gaps.ts";
import type { Recorder } from "../core/recorder.ts";
import { compositorLayers, ladderArgs, ladderCopyArgs, planLadder } from "./ladder.ts";
import { notPlayableMessage, PLAYABLE_WITHIN_MS, waitUntilPlayable } from "./live-ready.ts";
import { hlsDetails, playbackBase, type HlsDetails } from "./live-stream.service.ts";

// A live stream as the capture worker runs it: the same recorder page and capture as a browser
// recording, but the page's WebM goes into the ladder encoder (ladder.ts) writing live HLS into the
// stream's `live` folder, which the playlist server serves. A pause marks a span the recording leaves
// out while the live stream goes on. The stream stays `starting` until it can be played (live-ready.ts:
// the master playlist and a first segment of every layer are on disk, as the playback route serves
// them); only then is it `running` and announced. The webhooks are `hls.*`, and an `hls-finish` job
// makes the VOD zip and the layer MP4s from the live folder (hls-finish.job.ts).

/** The keys every hls webhook shares. */
export function hlsWebhookBase(
  ctx: Pick<AppContext, "config" | "identity">,
  rec: RecordingRow,
  room: RoomRow,
  d: HlsDetails,
): Record<string, unknown> {
  return {
    ...captureWebhookBase(rec, room, d, ctx.config.publicUrl),
    url: `${playbackBase(ctx.config.publicUrl, ctx.identity.appSecret, rec.id)}/master.m3u8`,
    recording_vod_playlist_enabled: d.hls_vod,
    recording_single_file_per_layer_enabled: d.single_file_per_layer,
    session_started_at: d.session_started_at ?? "",
    // tapedeck: the ladder produced, and why layers were left out.
    layers: (d.layers ?? d.requested_layers ?? []).map((l, i) => ({ layer: String(i), width: l.width, height: l.height })),
    ...(d.ladder_warning ? { ladder_warning: d.ladder_warning } : {}),
  };
}

export function hlsRecorder(ctx: Pick<AppContext, "config" | "identity">): Recorder<HlsDetails> {
  return {
    kind: "hls",
    label: "live stream",
    details: hlsDetails,
    events: {
      started: "hls.started.success",
      stopped: "hls.stopped.success",
      failure: "hls.failure",
      success: "hls.recording.success",
    },
    states: { started: "HLSStarted", stopped: "HLSStopped", failure: "HLSFailed" },
    webhookBase: (row, room, d) => hlsWebhookBase(ctx, row, room, d),
    eventKeys(event, row) {
      if (event === "started") return { started_at: row.started_at };
      if (event === "stopped") return { started_at: row.started_at, stopped_at: row.stopped_at, live_transcription_enabled: false };
      return {};
    },
    finishJob: "hls-finish",
    // Watched as it is made: its encoder's lag behind real time goes into each layer's quality report.
    live: true,
    limit: () => ({ max: ctx.config.recording.hlsMax, setting: "TAPEDECK_HLS_MAX" }),

    build({ dir, d, log, renderer }) {
      const { hlsCores, hlsPreset } = ctx.config.recording;
      // The ladder this machine can encode in real time; the top layer is the capture size.
      const plan = planLadder(d.requested_layers, hlsCores, hlsPreset, renderer);
      d.layers = plan.layers;
      d.ladder_warning = plan.warning;
      d.width = plan.layers[0].width;
      d.height = plan.layers[0].height;
      d.live_dir = path.join(dir, "live");
      // Empty: files left by an earlier attempt (its worker died while starting) must not pass for this one's.
      fs.rmSync(d.live_dir, { recursive: true, force: true });
      fs.mkdirSync(d.live_dir, { recursive: true });
      if (plan.warning) log.warn({ budget: plan.budget, cores: plan.cores }, plan.warning);
      log.info(
        {
          layers: plan.layers.map((l) => `${l.width}x${l.height}`),
          preset: hlsPreset,
          renderer,
          cores: Number(plan.cores.toFixed(2)),
          live_dir: d.live_dir,
        },
        "live stream ladder",
      );
      // The compositor encodes every layer itself (ffmpeg only segments them); a browser's capture is encoded by ffmpeg.
      return renderer === "compositor"
        ? { ffmpegArgs: ladderCopyArgs(plan.layers, d.live_dir), layers: compositorLayers(plan.layers, hlsPreset) }
        : { ffmpegArgs: ladderArgs(plan.layers, d.live_dir, hlsPreset) };
    },

    // Waits (woken by the live folder's events) until a viewer can play every layer, at most
    // PLAYABLE_WITHIN_MS from the capture's start.
    async whenRunning({ d, log, capture }, epoch) {
      const res = await waitUntilPlayable(d.live_dir!, d.layers ?? [], { deadline: epoch + PLAYABLE_WITHIN_MS, ended: capture.ended });
      if (res.playable) return { ready: true };
      if (res.why === "ended") return { ready: false, why: "ended", waitingFor: "the live stream could be played", missing: res.missing };
      log.warn({ missing: res.missing }, "live stream not playable in time; stopping it");
      return { ready: false, why: "timeout", message: notPlayableMessage(res.missing, PLAYABLE_WITHIN_MS) };
    },

    // The live stream goes on while its recording is paused: the span is noted, and left out at the end.
    async pause(run, paused) {
      notePause((run.d.paused_spans ??= []), paused);
      await run.saveDetails();
    },
    async captureEnded(run) {
      if (notePause((run.d.paused_spans ??= []), false)) await run.saveDetails();
    },

    outputOnDisk: (d) => (d.live_dir && fs.existsSync(path.join(d.live_dir, "master.m3u8")) ? 1 : 0),
  };
}
