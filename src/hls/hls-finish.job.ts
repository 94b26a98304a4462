import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import type { AppContext } from "../app-context.ts";
import { insertAsset } from "../assets/asset.repository.ts";
import { probeMp4 } from "../beam/beam-finish.job.ts";
import type { RecordingRow, RoomRow } from "../db/schema.ts";
import { chatPath, hlsLayerPath, hlsVodZipPath } from "../domain/storage-paths.ts";
import type { JobHandler } from "../jobs/job-queue.ts";
import { newUuid, nowIso } from "../ids.ts";
import { writeChatCsv } from "../recorders/chat-recording.ts";
import { uploadRecording } from "../recorders/upload.ts";
import { getRoom, roomDestination } from "../rooms/room.service.ts";
import { hlsDetails, playbackBase, type HlsDetails } from "./live-stream.service.ts";
import { buildVod, layerMp4, zipVod } from "./vod.ts";

// After a live stream has stopped: its recording, made from the live segments without re-encoding.
// The VOD (every layer's kept segments, paused spans left out, as VOD playlists) zipped to
// `hls/<room>/<date>/<epoch>/vod/Rec-<room>-<epoch>.zip` (asset `room-vod`); one MP4 per layer remuxed
// from the same segments (assets `room-composite` with `layer`); the chat CSV; then
// `hls.recording.success`. Each run starts from the live folder, so a retry (the job queue retries with
// backoff for days while the folder waits on disk) redoes everything; uploads overwrite the same keys.

export interface HlsFinishPayload {
  recordingId: string;
}

/** The keys every hls webhook shares. */
export function hlsWebhookBase(ctx: Pick<AppContext, "config" | "identity">, rec: RecordingRow, room: RoomRow, d: HlsDetails): Record<string, unknown> {
  return {
    beam_id: rec.id, room_id: rec.room_id, peer_id: d.peer_id ?? "", session_id: rec.session_id ?? "", template_id: room.template_id,
    metadata_id: newUuid(), metadata_timestamp: nowIso(), max_width: d.width, max_height: d.height, meeting_url: rec.meeting_url,
    url: `${playbackBase(ctx.config.publicUrl, ctx.identity.appSecret, rec.id)}/master.m3u8`,
    recording_vod_playlist_enabled: d.hls_vod, recording_single_file_per_layer_enabled: d.single_file_per_layer,
    session_started_at: d.session_started_at ?? "",
    // tapedeck: the ladder produced, and why layers were left out.
    layers: (d.layers ?? d.requested_layers ?? []).map((l, i) => ({ layer: String(i), width: l.width, height: l.height })),
    ...(d.ladder_warning ? { ladder_warning: d.ladder_warning } : {}),
  };
}

export function hlsFinishHandler(ctx: AppContext): JobHandler {
  const load = async (id: string) => {
    const rec = await ctx.db.selectFrom("recordings").selectAll().where("id", "=", id).where("kind", "=", "hls").executeTakeFirstOrThrow();
    return { rec, d: hlsDetails(rec), room: await getRoom(ctx.db, rec.room_id) };
  };
  return {
    async run(p: HlsFinishPayload, { log }) {
      const { rec, d, room } = await load(p.recordingId);
      if (rec.status === "completed" || rec.status === "failed") return;
      if (!d.live_dir || !fs.existsSync(d.live_dir)) throw new Error(`the live folder of stream ${rec.id} is missing (${d.live_dir ?? "never made"})`);
      const work = path.dirname(d.live_dir);
      const finished = async () => {
        await ctx.db.updateTable("recordings").set({ status: "completed", updated_at: nowIso(), worker: null, lease_until: null }).where("id", "=", rec.id).execute();
        await fsp.rm(work, { recursive: true, force: true });
      };
      if (!d.hls_vod && !d.single_file_per_layer) {
        log.info({ stream_id: rec.id }, "live stream ended; it was not recorded");
        return finished();
      }
      const t0 = Date.now();
      const dest = await roomDestination(ctx, room);
      const at = { roomId: room.id, sessionStartedAt: d.session_started_at!, epoch: d.epoch! };
      const vodDir = path.join(work, "vod");
      await fsp.rm(vodDir, { recursive: true, force: true });
      const metadata = await ctx.db.selectFrom("live_stream_metadata").select(["id", "payload", "duration", "created_at"]).where("stream_id", "=", rec.id).orderBy("created_at").execute();
      const vod = await buildVod(d.live_dir, vodDir, d.paused_spans ?? [], metadata);
      const duration = Math.round(vod.variants[0]?.durationSeconds ?? 0);
      const top = vod.variants[0];

      let zip: { path: string; url: string; key: string; location: string; size: number } | null = null;
      if (d.hls_vod) {
        const file = path.join(work, "vod.zip");
        await zipVod(vodDir, file, vod.files);
        zip = await uploadRecording(ctx, dest, hlsVodZipPath(at), file, "application/zip");
        log.info({ key: zip.key, size: zip.size, files: vod.files.length }, "VOD zip uploaded");
      }
      const layers: Array<{ index: number; width: number; height: number; duration: number; up: Awaited<ReturnType<typeof uploadRecording>> }> = [];
      if (d.single_file_per_layer) {
        for (const v of vod.variants) {
          const file = path.join(work, `layer-${v.index}.mp4`);
          await layerMp4(vodDir, v.index, v.segmentFiles, file);
          const probe = await probeMp4(file);
          const up = await uploadRecording(ctx, dest, hlsLayerPath({ ...at, layerIndex: v.index }), file, "video/mp4");
          layers.push({ index: v.index, width: probe.width || v.width, height: probe.height || v.height, duration: probe.duration, up });
          log.info({ layer: v.index, key: up.key, size: up.size }, "layer MP4 uploaded");
        }
      }

      let chat: { path: string; url: string; key: string; location: string; size: number; messages: number } | null = null;
      if (rec.session_id && rec.started_at) {
        const file = path.join(work, "chat.csv");
        const messages = await writeChatCsv(ctx.db, rec.session_id, file, { from: rec.started_at, to: rec.stopped_at ?? nowIso() });
        if (messages) chat = { ...(await uploadRecording(ctx, dest, chatPath(at), file, "text/csv; charset=utf-8")), messages };
      }

      await ctx.db.transaction().execute(async (trx) => {
        await trx.deleteFrom("recording_assets").where("job_id", "=", rec.id).execute();
        const base = { jobId: rec.id, roomId: room.id, sessionId: rec.session_id ?? "" };
        const vodAsset = zip
          ? await insertAsset(trx, {
            ...base, type: "room-vod", path: zip.path, objectKey: zip.key, location: zip.location, size: zip.size, duration,
            metadata: { num_layers: String(vod.variants.length), max_width: top?.width ?? d.width, max_height: top?.height ?? d.height },
          })
          : null;
        const files = [];
        for (const l of layers) {
          const a = await insertAsset(trx, {
            ...base, type: "room-composite", path: l.up.path, objectKey: l.up.key, location: l.up.location, size: l.up.size, duration: l.duration,
            metadata: { resolution: { width: l.width, height: l.height }, layer: String(l.index) },
          });
          files.push({ asset_id: a.id, layer: String(l.index), recording_path: l.up.path, recording_presigned_url: l.up.url, size: l.up.size, width: l.width, height: l.height, duration: l.duration });
        }
        if (chat) await insertAsset(trx, { ...base, type: "chat", path: chat.path, objectKey: chat.key, location: chat.location, size: chat.size, duration: 0, metadata: { messages: chat.messages } });
        await trx.updateTable("recordings").set({ status: "completed", updated_at: nowIso(), worker: null, lease_until: null }).where("id", "=", rec.id).execute();
        await ctx.outbox.enqueue(trx, {
          type: "hls.recording.success",
          room: { id: room.id, webhook: room.webhook },
          data: {
            ...hlsWebhookBase(ctx, rec, room, d), duration, started_at: rec.started_at, stopped_at: rec.stopped_at, recording_created_at: rec.started_at,
            recording_id: rec.id,
            hls_vod_recording_path: zip?.path ?? "", hls_vod_recording_presigned_url: zip?.url ?? "", hls_vod_recording_size: zip?.size ?? 0,
            recording_hls_vod_playlist_location: zip?.path ?? "", room_vod_asset_id: vodAsset?.id ?? "",
            recording_single_files: files, recording_thumbnails: [],
            chat_recording_path: chat?.path ?? "", chat_recording_presigned_url: chat?.url ?? "",
            paused_spans: (d.paused_spans ?? []).map((s) => ({ from: new Date(s.from).toISOString(), to: s.to ? new Date(s.to).toISOString() : null })),
          },
        });
      });
      log.info({ stream_id: rec.id, duration, layers: layers.length, vod: !!zip, chat: !!chat, seconds: (Date.now() - t0) / 1000 }, "live stream recording completed");
      await fsp.rm(work, { recursive: true, force: true });
    },

    async onFailed(p: HlsFinishPayload, error: string) {
      const { rec, d, room } = await load(p.recordingId);
      const failure = { type: "UPLOAD_ERROR", message: `Failed to make or upload the stream's recording. Check if upload config is correct. (${error})` };
      await ctx.db.transaction().execute(async (trx) => {
        await trx.updateTable("recordings").set({ status: "failed", failure: JSON.stringify(failure), updated_at: nowIso(), worker: null, lease_until: null }).where("id", "=", rec.id).execute();
        await ctx.outbox.enqueue(trx, {
          type: "hls.failure",
          room: { id: room.id, webhook: room.webhook },
          data: { ...hlsWebhookBase(ctx, rec, room, d), job_id: rec.id, error_code: 500, error_type: failure.type, error_message: failure.message, state_name: "HLSFailed", state_timestamp: nowIso(), duration: 0 },
        });
      });
    },
  };
}
