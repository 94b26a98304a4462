import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import type { AppContext } from "../../app-context.ts";
import type { NewAsset } from "../../assets/asset.repository.ts";
import { chatPath, hlsLayerPath, hlsThumbnailPath, hlsVodZipPath } from "../../domain/storage-paths.ts";
import type { JobHandler, JobPayloads } from "../../jobs/job-queue.ts";
import { nowIso } from "../../ids.ts";
import { chatAsset, commitOutputs, finishJobHandler, probeMp4, uploadChatCsv, type UploadedChat } from "../core/finish.ts";
import { describeBrowserFailure } from "../core/recording-failure.ts";
import { gapsWithin, gapsWithoutPauses, liveQuality, pauseGap } from "../core/known-gaps.ts";
import { type DeliveredQuality, deliverQuality, qualityWebhookKeys, worstGrade } from "../core/quality.ts";
import { makeThumbnails, type Thumbnails } from "../core/thumbnails.ts";
import { uploadRecording, type Uploaded } from "../core/upload.ts";
import { roomDestination } from "../../rooms/room.service.ts";
import { hlsRecorder } from "./hls-recorder.ts";
import { buildVod, layerMp4, type VodVariant, zipVod } from "./vod.ts";

// After a live stream has stopped: its recording, made from the live segments without re-encoding.
// The VOD (every layer's kept segments, paused spans left out, as VOD playlists) zipped to
// `hls/<room>/<date>/<epoch>/vod/Rec-<room>-<epoch>.zip` (asset `room-vod`); one MP4 per layer remuxed
// from the same segments (assets `room-composite` with `layer`); the chat CSV; then
// `hls.recording.success`. Thumbnails (core/thumbnails.ts) come from the top layer (its MP4, else its VOD
// playlist), go to `hls/<room>/<date>/<epoch>/thumbnails/`, are listed on the `room-vod` asset (else the
// top layer's) and sent as `recording_thumbnails`; a thumbnail failure leaves them empty, no more. Each
// file's quality report lists each pause where it cut the file (vod.ts pauseCuts). Each run starts from
// the live folder, so a retry (the job queue retries with backoff for days while the folder waits on
// disk) redoes everything; uploads overwrite the same keys.
// When the queue gives up: `failed` and `hls.failure`, UPLOAD_ERROR when an upload gave up (with
// error_origin), INTERNAL_ERROR when making the files did (ffmpeg, a missing live folder).

export type HlsFinishPayload = JobPayloads["hls-finish"];

export function hlsFinishHandler(ctx: AppContext): JobHandler<HlsFinishPayload> {
  const hls = hlsRecorder(ctx);
  return finishJobHandler(ctx, hls, {
    async run({ rec, d, room }, { log, signal }) {
      if (!d.live_dir || !fs.existsSync(d.live_dir))
        throw new Error(`the live folder of stream ${rec.id} is missing (${d.live_dir ?? "never made"})`);
      const work = path.dirname(d.live_dir);
      const completed = { id: rec.id, kind: hls.kind, set: { worker: null, lease_until: null } };
      const finished = async () => {
        if (await commitOutputs(ctx, { assets: [], recording: completed })) await fsp.rm(work, { recursive: true, force: true });
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
      const metadata = await ctx.db
        .selectFrom("live_stream_metadata")
        .select(["id", "payload", "duration", "created_at"])
        .where("stream_id", "=", rec.id)
        .orderBy("created_at")
        .execute();
      const vod = await buildVod(d.live_dir, vodDir, d.paused_spans ?? [], metadata);
      const duration = Math.round(vod.variants[0]?.durationSeconds ?? 0);
      const top = vod.variants[0];

      let zip: Uploaded | null = null;
      if (d.hls_vod) {
        const file = path.join(work, "vod.zip");
        await zipVod(vodDir, file, vod.files);
        zip = await uploadRecording(ctx, dest, hlsVodZipPath(at), file, "application/zip");
        log.info({ key: zip.key, size: zip.size, files: vod.files.length }, "VOD zip uploaded");
      }
      // What the capture knew of every layer alike: its gaps (on the recording's clock, pauses left out)
      // and the encoder's lag behind real time.
      const captured = {
        gaps: gapsWithoutPauses(d.gaps, d.paused_spans ?? [], d.epoch ?? 0),
        live: liveQuality(d),
      };
      // A layer's gaps within its `duration` s: the capture's, and each pause where it cut the layer (to the segment).
      const stoppedAt = rec.stopped_at ? Date.parse(rec.stopped_at) : null;
      const gapsOf = (v: VodVariant, duration: number) =>
        gapsWithin([...captured.gaps, ...v.pauses.map((c) => pauseGap(c.at, c.pause, { untilStop: c.toEnd, stoppedAt }))], duration).sort(
          (a, b) => a.start - b.start,
        );
      const layers: Array<{
        index: number;
        width: number;
        height: number;
        duration: number;
        up: Uploaded;
        quality: DeliveredQuality | null;
      }> = [];
      if (d.single_file_per_layer) {
        for (const v of vod.variants) {
          const file = path.join(work, `layer-${v.index}.mp4`);
          await layerMp4(vodDir, v.index, v.segmentFiles, file);
          const probe = await probeMp4(file, { signal, log });
          const relative = hlsLayerPath({ ...at, layerIndex: v.index });
          const up = await uploadRecording(ctx, dest, relative, file, "video/mp4");
          const quality = await deliverQuality(ctx, {
            file,
            dest,
            relativePath: relative,
            forType: "room-composite",
            forPath: up.path,
            gaps: gapsOf(v, probe.duration),
            live: captured.live,
            expectVideo: true,
            expectAudio: true,
            signal,
            log,
          });
          layers.push({
            index: v.index,
            width: probe.width || v.width,
            height: probe.height || v.height,
            duration: probe.duration,
            up,
            quality,
          });
          log.info({ layer: v.index, key: up.key, size: up.size }, "layer MP4 uploaded");
        }
      }

      const topMp4 = top && layers.some((l) => l.index === top.index) ? path.join(work, `layer-${top.index}.mp4`) : null;
      const thumbs: Thumbnails = top
        ? await makeThumbnails(ctx, {
            room,
            rec,
            input: topMp4 ?? path.join(vodDir, top.playlist),
            durationSeconds: duration,
            dir: path.join(work, "thumbnails"),
            dest,
            pathFor: (offset) => hlsThumbnailPath({ ...at, offset }),
            signal,
            log,
          })
        : { thumbnails: [], skipped: "the stream has no layer" };
      const thumbnailPaths = thumbs.thumbnails.length ? thumbs.thumbnails.map((t) => t.location) : null;

      let chat: UploadedChat | null = null;
      if (rec.session_id && rec.started_at) {
        chat = await uploadChatCsv(ctx, {
          sessionId: rec.session_id,
          span: { from: rec.started_at, to: rec.stopped_at ?? nowIso() },
          file: path.join(work, "chat.csv"),
          dest,
          relativePath: chatPath(at),
        });
      }

      const owner = { jobId: rec.id, roomId: room.id, sessionId: rec.session_id ?? "" };
      const vodAsset: NewAsset[] = zip
        ? [
            {
              ...owner,
              type: "room-vod",
              path: zip.path,
              objectKey: zip.key,
              location: zip.location,
              size: zip.size,
              duration,
              metadata: { num_layers: String(vod.variants.length), max_width: top?.width ?? d.width, max_height: top?.height ?? d.height },
              thumbnails: thumbnailPaths,
            },
          ]
        : [];
      const layerAssets: NewAsset[] = layers.map((l) => ({
        ...owner,
        type: "room-composite",
        path: l.up.path,
        objectKey: l.up.key,
        location: l.up.location,
        size: l.up.size,
        duration: l.duration,
        metadata: { resolution: { width: l.width, height: l.height }, layer: String(l.index) },
        // 100ms lists thumbnails on the `room-vod` asset; without one, on the top layer's MP4.
        thumbnails: !zip && l.index === top?.index ? thumbnailPaths : null,
      }));
      // Without a file per layer, the VOD's top layer is what is measured (its playlist, read in place).
      const vodQuality =
        zip && top && !layers.length
          ? await deliverQuality(ctx, {
              file: path.join(vodDir, top.playlist),
              dest,
              relativePath: hlsVodZipPath(at),
              forType: "room-vod",
              forPath: zip.path,
              gaps: gapsOf(top, top.durationSeconds),
              live: captured.live,
              expectVideo: true,
              expectAudio: true,
              signal,
              log,
            })
          : null;
      const qualities = [...layers.map((l) => l.quality), vodQuality];
      const committed = await commitOutputs(ctx, {
        replace: { jobId: rec.id },
        assets: [...vodAsset, ...layerAssets, ...(chat ? [chatAsset(owner, chat)] : [])],
        quality: { owner, reports: qualities },
        recording: completed,
        event: (rows) => {
          const layerRows = rows.slice(vodAsset.length, vodAsset.length + layers.length);
          const files = layers.map((l, i) => ({
            asset_id: layerRows[i].id,
            layer: String(l.index),
            recording_path: l.up.path,
            recording_presigned_url: l.up.url,
            size: l.up.size,
            width: l.width,
            height: l.height,
            duration: l.duration,
            ...qualityWebhookKeys(l.quality),
          }));
          return {
            type: hls.events.success,
            room: { id: room.id, webhook: room.webhook },
            data: {
              ...hls.webhookBase(rec, room, d),
              duration,
              started_at: rec.started_at,
              stopped_at: rec.stopped_at,
              recording_created_at: rec.started_at,
              recording_id: rec.id,
              hls_vod_recording_path: zip?.path ?? "",
              hls_vod_recording_presigned_url: zip?.url ?? "",
              hls_vod_recording_size: zip?.size ?? 0,
              // 100ms: "(Deprecated, use hls_vod_recording_presigned_url) Pre signed url for HLS vod
              // playlist": the same presigned URL (tapedeck's VOD is always the zip, as 100ms's zipped upload).
              recording_hls_vod_playlist_location: zip?.url ?? "",
              room_vod_asset_id: zip ? rows[0].id : "",
              recording_single_files: files,
              // tapedeck: the worst grade of the files' reports, and the VOD's report when it has no file per layer.
              quality_grade: worstGrade(qualities.flatMap((q) => (q ? [q.report.grade] : []))) ?? "",
              ...(vodQuality
                ? { vod_quality_report_path: vodQuality.uploaded.path, vod_quality_report_presigned_url: vodQuality.uploaded.url }
                : {}),
              recording_thumbnails: thumbs.thumbnails,
              chat_recording_path: chat?.path ?? "",
              chat_recording_presigned_url: chat?.url ?? "",
              paused_spans: (d.paused_spans ?? []).map((s) => ({
                from: new Date(s.from).toISOString(),
                to: s.to ? new Date(s.to).toISOString() : null,
              })),
            },
          };
        },
      });
      if (!committed) return;
      log.info(
        {
          stream_id: rec.id,
          duration,
          layers: layers.length,
          vod: !!zip,
          chat: !!chat,
          thumbnails: thumbs.thumbnails.length,
          thumbnails_skipped: thumbs.skipped,
          seconds: (Date.now() - t0) / 1000,
        },
        "live stream recording completed",
      );
      await fsp.rm(work, { recursive: true, force: true });
    },

    describe(error) {
      const f = describeBrowserFailure(error);
      return {
        ...f,
        message:
          f.type === "UPLOAD_ERROR"
            ? `Failed to upload the stream's recording. Check if upload config is correct. (${f.message})`
            : `Failed to make the stream's recording: ${f.message}`,
      };
    },
  });
}
