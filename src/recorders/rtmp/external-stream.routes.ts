import { z } from "zod";
import type { AppContext } from "../../app-context.ts";
import type { V2Routes } from "../../api/server.ts";
import { toPage } from "../../api/pagination.ts";
import { objectIdParam, parseBody, parseParams, parseQuery } from "../../api/validation.ts";
import { assetsOfRecording } from "../../assets/asset.repository.ts";
import type { AssetRow, RecordingRow } from "../../db/schema.ts";
import { AppError } from "../../errors.ts";
import { outboundPolicy } from "../../net/outbound-policy.ts";
import { getRoom } from "../../rooms/room.service.ts";
import { getTemplate } from "../../templates/template.service.ts";
import type { Json } from "../../util/json.ts";
import { requestStop } from "../browser/beam.service.ts";
import { renderProgress } from "../browser/capture-progress.ts";
import { listFilter, listQuery } from "../browser/recording.routes.ts";
import { assetsOfRecordings, assetTypes, recordingAssets, shownMeetingUrl } from "../core/recording.presenter.ts";
import { recordingQuality } from "../core/quality.ts";
import { ACTIVE_STATUSES, listRecordings, recordingFailure, roomRecordings } from "../core/recording.repository.ts";
import { createExternalStream, getExternalStream, rtmpDetails, startExternalStreamSchema } from "./external-stream.service.ts";
import { redactRtmpUrl } from "./rtmp-url.ts";

// External streams (RTMP out), 100ms's /v2/external-streams: start, stop (one, or all of a room), get,
// list. The API writes requests; the capture worker (browser/capture-worker.ts running rtmp-recorder.ts)
// streams. The object is 100ms's; `rtmp_urls` are answered as given (100ms does; they are the caller's
// own), never logged whole (rtmp-url.ts).

const idParams = z.object({ id: objectIdParam("stream_id") });
const roomParams = z.object({ room_id: objectIdParam("room_id") });

/**
 * An external stream as /v2/external-streams answers it, on every answer alike: `assets` are its assets
 * (null or [] while it has none: `recording_assets` is then null); `meeting_url` and `asset_types` as
 * core/recording.presenter.ts says for every recording.
 */
export function renderExternalStream(ctx: AppContext, r: RecordingRow, assets: AssetRow[] | null): Json {
  const d = rtmpDetails(r);
  const failure = recordingFailure(r);
  return {
    id: r.id,
    room_id: r.room_id,
    session_id: r.session_id ?? "",
    status: r.status,
    destination: r.destination,
    rtmp_urls: d.rtmp_urls,
    meeting_url: shownMeetingUrl(r, ctx.config.publicUrl),
    recording: d.recording,
    resolution: { width: d.width, height: d.height },
    created_at: r.created_at,
    started_at: r.started_at,
    stopped_at: r.stopped_at,
    updated_at: r.updated_at,
    started_by: r.started_by,
    stopped_by: r.stopped_by,
    asset_types: assetTypes(r, assets),
    recording_assets: recordingAssets(assets),
    // tapedeck addition: the grade of its files' quality reports (core/quality.ts).
    quality: recordingQuality(assets),
    // tapedeck additions: why it stopped or failed, destinations that gave up (redacted), the starting step.
    ...(r.stop_reason ? { stop_reason: r.stop_reason } : {}),
    ...(failure ? { error: failure } : {}),
    ...(d.rtmp_failures?.length
      ? {
          rtmp_failures: d.rtmp_failures.map((f) => ({
            url_index: f.index,
            url: redactRtmpUrl(d.rtmp_urls[f.index] ?? ""),
            message: f.message,
            at: f.at,
          })),
        }
      : {}),
    ...renderProgress(r, d),
  };
}

export const externalStreamRoutes: V2Routes = (v2, ctx) => {
  v2.post("/external-streams/room/:room_id/start", async (req) => {
    const { room_id } = parseParams(roomParams, req.params);
    const body = parseBody(startExternalStreamSchema, req.body ?? {});
    const room = await getRoom(ctx.db, room_id);
    const template = await getTemplate(ctx.db, room.template_id);
    const row = await createExternalStream(ctx.db, room, template, body, "", outboundPolicy(ctx.config.outbound));
    const d = rtmpDetails(row);
    req.log.info(
      { stream_id: row.id, room_id, rtmp_urls: d.rtmp_urls.map(redactRtmpUrl), recording: d.recording },
      "external stream requested",
    );
    ctx.events.emit("recording.requested", { kind: "rtmp" });
    return renderExternalStream(ctx, row, null);
  });

  v2.post("/external-streams/:id/stop", async (req) => {
    const { id } = parseParams(idParams, req.params);
    const row = await requestStop(ctx.db, id, "client request", "", "rtmp");
    ctx.events.emit("recording.requested", { kind: "rtmp" });
    return renderExternalStream(ctx, row, null);
  });

  v2.post("/external-streams/room/:room_id/stop", async (req) => {
    const { room_id } = parseParams(roomParams, req.params);
    await getRoom(ctx.db, room_id);
    const active = await roomRecordings(ctx.db, { kind: "rtmp", roomId: room_id, statuses: ACTIVE_STATUSES });
    if (!active.length)
      throw new AppError("not_found", "no active stream found for the passed in identifiers", {
        details: [`room ${room_id} has no external stream that is starting or running`],
      });
    const rows = [];
    for (const { id } of active) rows.push(await requestStop(ctx.db, id, "client request", "", "rtmp"));
    ctx.events.emit("recording.requested", { kind: "rtmp" });
    return { error: "", limit: rows.length, data: rows.map((r) => renderExternalStream(ctx, r, null)), last: "" };
  });

  v2.get("/external-streams", async (req) => {
    const q = parseQuery(listQuery, req.query);
    const rows = await listRecordings(ctx.db, { kind: "rtmp", ...listFilter(q) });
    const assets = await assetsOfRecordings(
      ctx.db,
      rows.slice(0, q.limit).map((r) => r.id),
    );
    return toPage(rows, q.limit, (r) => renderExternalStream(ctx, r, assets.get(r.id) ?? null));
  });

  v2.get("/external-streams/:id", async (req) => {
    const { id } = parseParams(idParams, req.params);
    const row = await getExternalStream(ctx.db, id);
    return renderExternalStream(ctx, row, await assetsOfRecording(ctx.db, id));
  });
};
