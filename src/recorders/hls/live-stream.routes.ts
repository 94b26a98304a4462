import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import type { V2Routes } from "../../api/server.ts";
import { toPage } from "../../api/pagination.ts";
import { objectIdParam, parseBody, parseParams, parseQuery } from "../../api/validation.ts";
import { assetsOfRecording } from "../../assets/asset.repository.ts";
import { requestStop } from "../browser/beam.service.ts";
import { renderProgress } from "../browser/capture-progress.ts";
import { listFilter, listQuery } from "../browser/recording.routes.ts";
import type { AssetRow, RecordingRow } from "../../db/schema.ts";
import { AppError } from "../../errors.ts";
import { newObjectId, nowIso } from "../../ids.ts";
import { getRoom } from "../../rooms/room.service.ts";
import { getTemplate } from "../../templates/template.service.ts";
import type { Json } from "../../util/json.ts";
import { listRecordings, recordingFailure, roomRecordings } from "../core/recording.repository.ts";
import { assetsOfRecordings, recordingAssets, shownMeetingUrl } from "../core/recording.presenter.ts";
import { recordingQuality } from "../core/quality.ts";
import {
  ACTIVE_HLS_STATUSES,
  createLiveStream,
  getLiveStream,
  hlsDetails,
  playbackBase,
  setRecordingPaused,
  startLiveStreamSchema,
  timedMetadataSchema,
} from "./live-stream.service.ts";
import { outboundPolicy } from "../../net/outbound-policy.ts";

// Live streams (HLS): start, stop (one, or all of a room), get, list, pause and resume the recording,
// timed metadata. The API writes requests; the worker streams and records (browser/capture-worker.ts
// running hls-recorder.ts), the playlist server (hls/playback.routes.ts) serves the live ladder.

const idParams = z.object({ id: objectIdParam("stream_id") });
const roomParams = z.object({ room_id: objectIdParam("room_id") });

/**
 * A live stream as /v2/live-streams answers it, on every answer alike: `assets` are its assets (null or
 * [] while it has none; `recording_assets` is then null); `meeting_url` as core/recording.presenter.ts says.
 */
export function renderLiveStream(ctx: AppContext, r: RecordingRow, assets: AssetRow[] | null): Json {
  const d = hlsDetails(r);
  const failure = recordingFailure(r);
  const base = playbackBase(ctx.config.publicUrl, ctx.identity.appSecret, r.id);
  const layers = d.layers ?? d.requested_layers;
  const out: Json = {
    id: r.id,
    room_id: r.room_id,
    session_id: r.session_id ?? "",
    status: r.status,
    meeting_url: shownMeetingUrl(r, ctx.config.publicUrl),
    playback: { url: `${base}/master.m3u8`, viewer_url: `${base}/` },
    recording: { hls_vod: d.hls_vod, single_file_per_layer: d.single_file_per_layer },
    destination: r.destination,
    created_at: r.created_at,
    started_at: r.started_at,
    updated_at: r.updated_at,
    started_by: r.started_by,
    stopped_at: r.stopped_at,
    stopped_by: r.stopped_by,
    // tapedeck additions: the ladder produced (or asked for, before the worker starts), and its warning.
    layers: layers.map((l, i) => ({
      layer: String(i),
      width: l.width,
      height: l.height,
      video_bitrate: l.videoBitrate,
      audio_bitrate: l.audioBitrate,
    })),
    ...(d.ladder_warning ? { ladder_warning: d.ladder_warning } : {}),
    recording_paused: r.paused === 1,
    ...(r.stop_reason ? { stop_reason: r.stop_reason } : {}),
    ...(failure ? { error: failure } : {}),
    // tapedeck addition: while starting, the step the recorder is at (browser/capture-progress.ts).
    ...renderProgress(r, d),
    recording_assets: recordingAssets(assets),
    // tapedeck addition: the grade of its files' quality reports (core/quality.ts).
    quality: recordingQuality(assets),
  };
  return out;
}

export const liveStreamRoutes: V2Routes = (v2, ctx) => {
  /** Live streams as answers, each with its assets (one query for all of them). */
  const renderAll = async (rows: RecordingRow[]) => {
    const assets = await assetsOfRecordings(
      ctx.db,
      rows.map((r) => r.id),
    );
    return rows.map((r) => renderLiveStream(ctx, r, assets.get(r.id) ?? null));
  };
  const renderOne = async (r: RecordingRow) => (await renderAll([r]))[0];

  v2.post("/live-streams/room/:room_id/start", async (req) => {
    const { room_id } = parseParams(roomParams, req.params);
    const body = parseBody(startLiveStreamSchema, req.body ?? {});
    const room = await getRoom(ctx.db, room_id);
    const row = await createLiveStream(
      ctx.db,
      room,
      await getTemplate(ctx.db, room.template_id),
      body,
      "",
      outboundPolicy(ctx.config.outbound),
    );
    req.log.info({ stream_id: row.id, room_id }, "live stream requested");
    ctx.events.emit("recording.requested", { kind: "hls" });
    return renderLiveStream(ctx, row, null);
  });

  v2.post("/live-streams/:id/stop", async (req) => {
    const { id } = parseParams(idParams, req.params);
    const row = await requestStop(ctx.db, id, "client request", "", "hls");
    ctx.events.emit("recording.requested", { kind: "hls" });
    return renderOne(row);
  });

  v2.post("/live-streams/room/:room_id/stop", async (req) => {
    const { room_id } = parseParams(roomParams, req.params);
    await getRoom(ctx.db, room_id);
    const active = await roomRecordings(ctx.db, { kind: "hls", roomId: room_id, statuses: ACTIVE_HLS_STATUSES });
    if (!active.length)
      throw new AppError("not_found", "no active stream found for the passed in identifiers", {
        details: [`room ${room_id} has no live stream that is starting or running`],
      });
    const rows = [];
    for (const { id } of active) rows.push(await requestStop(ctx.db, id, "client request", "", "hls"));
    ctx.events.emit("recording.requested", { kind: "hls" });
    // 100ms's sample: `last` is the last stream stopped.
    return { error: "", limit: rows.length, data: await renderAll(rows), last: rows.at(-1)?.id ?? "" };
  });

  for (const action of ["pause", "resume"] as const) {
    v2.post(`/live-streams/:id/${action}-recording`, async (req) => {
      const { id } = parseParams(idParams, req.params);
      const row = await setRecordingPaused(ctx.db, id, action === "pause");
      ctx.events.emit("recording.requested", { kind: "hls" });
      return renderOne(row);
    });
  }

  v2.post("/live-streams/:id/timed-metadata", async (req) => {
    const { id } = parseParams(idParams, req.params);
    const body = parseBody(timedMetadataSchema, req.body);
    const row = await getLiveStream(ctx.db, id);
    if (row.status !== "running")
      throw new AppError("conflict", `live stream is ${row.status}`, {
        details: [`timed metadata goes into a running stream; ${id} is ${row.status}`],
      });
    await ctx.db
      .insertInto("live_stream_metadata")
      .values({ id: newObjectId(), stream_id: id, payload: body.payload, duration: body.duration ?? 1, created_at: nowIso() })
      .execute();
    return renderOne(row);
  });

  v2.get("/live-streams", async (req) => {
    const q = parseQuery(listQuery, req.query);
    const rows = await listRecordings(ctx.db, { kind: "hls", ...listFilter(q) });
    const assets = await assetsOfRecordings(
      ctx.db,
      rows.slice(0, q.limit).map((r) => r.id),
    );
    return toPage(rows, q.limit, (r) => renderLiveStream(ctx, r, assets.get(r.id) ?? null));
  });

  v2.get("/live-streams/:id", async (req) => {
    const { id } = parseParams(idParams, req.params);
    const row = await getLiveStream(ctx.db, id);
    return renderLiveStream(ctx, row, await assetsOfRecording(ctx.db, id));
  });
};
