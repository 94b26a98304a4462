import { z } from "zod";
import type { V2Routes } from "../../api/server.ts";
import { listPageQuery, toPage } from "../../api/pagination.ts";
import { objectIdParam, parseBody, parseParams, parseQuery } from "../../api/validation.ts";
import { renderProgress } from "./capture-progress.ts";
import { ACTIVE_BEAM_STATUSES, beamDetails, createBeam, requestStop, setPaused, startBeamSchema } from "./beam.service.ts";
import { getRoom } from "../../rooms/room.service.ts";
import { getTemplate } from "../../templates/template.service.ts";
import { assetsOfRecording } from "../../assets/asset.repository.ts";
import type { AssetRow, RecordingRow } from "../../db/schema.ts";
import { RECORDING_STATUSES, type RecordingKind } from "../../domain/recording-types.ts";
import { AppError, notFound } from "../../errors.ts";
import type { Json } from "../../util/json.ts";
import { outboundPolicy } from "../../net/outbound-policy.ts";
import { findRecording, listRecordings, recordingFailure, roomRecordings } from "../core/recording.repository.ts";
import { assetsOfRecordings, assetTypes, recordingAssets, shownCompose, shownMeetingUrl } from "../core/recording.presenter.ts";
import { recordingQuality } from "../core/quality.ts";

// Browser-composite recordings ("beam"): start, stop (one, or all of a room), pause, resume, get, list.
// The API only writes what it asks for; the worker (capture-worker.ts, running beam-recorder.ts) records and reports.

const idParams = z.object({ id: objectIdParam("recording_id") });
const roomParams = z.object({ room_id: objectIdParam("room_id") });
/** The list query of GET /v2/recordings and GET /v2/live-streams. */
export const listQuery = z.object({
  ...listPageQuery,
  room_id: objectIdParam("room_id").optional(),
  session_id: objectIdParam("session_id").optional(),
  status: z.enum(RECORDING_STATUSES, { error: `status must be one of ${RECORDING_STATUSES.join(", ")}` }).optional(),
});

/** Kinds GET /v2/recordings shows: browser recordings, and (tapedeck) sessions composed again, listed with `kind=compose`. */
const SHOWN_KINDS: readonly RecordingKind[] = ["beam", "compose"];
const recordingListQuery = listQuery.extend({
  kind: z.enum(["beam", "compose"], { error: "kind must be one of beam, compose" }).optional(),
});

/** A parsed list query as the repository's list filter (the kind is the caller's). */
export function listFilter(q: z.infer<typeof listQuery>) {
  return { limit: q.limit, order: q.order, start: q.start, roomId: q.room_id, sessionId: q.session_id, status: q.status };
}

/** How a recording is shown: `publicUrl` (config.publicUrl) gives the built-in page's meeting_url. */
export interface RenderRecordingOptions {
  publicUrl?: string;
}

/**
 * A browser recording (kind `beam`) as /v2/recordings answers it, on every answer alike: `assets` are
 * its assets (null or [] while it has none); `asset_types` and `recording_assets` are always there
 * (core/recording.presenter.ts says what they hold).
 */
export function renderRecording(r: RecordingRow, assets: AssetRow[] | null, opts: RenderRecordingOptions = {}): Json {
  const failure = recordingFailure(r);
  return {
    id: r.id,
    room_id: r.room_id,
    session_id: r.session_id ?? "",
    status: r.status,
    // A session composed again opened no page.
    meeting_url: r.kind === "compose" ? "" : shownMeetingUrl(r, opts.publicUrl),
    destination: r.destination,
    started_by: r.started_by,
    stopped_by: r.stopped_by,
    created_at: r.created_at,
    started_at: r.started_at,
    updated_at: r.updated_at,
    stopped_at: r.stopped_at,
    paused: r.paused === 1,
    ...(r.stop_reason ? { stop_reason: r.stop_reason } : {}),
    ...(failure ? { error: failure } : {}),
    // tapedeck addition: while starting, the step the recorder is at (capture-progress.ts).
    // Only a browser recording has one (an SFU recording's details are of another shape).
    ...(r.kind === "beam" && r.status === "starting" ? renderProgress(r, beamDetails(r)) : {}),
    // tapedeck addition: what a session composed again was asked for (POST /v2/sessions/:id/compose).
    ...(r.kind === "compose" ? { compose: shownCompose(r) } : {}),
    asset_types: assetTypes(r, assets),
    recording_assets: recordingAssets(assets),
    // tapedeck addition: the grade of its files' quality reports (core/quality.ts).
    quality: recordingQuality(assets),
  };
}

export const recordingRoutes: V2Routes = (v2, ctx) => {
  // Read when answering: the public URL is known only once the server listens (port 0 in tests).
  const opts = (): RenderRecordingOptions => ({ publicUrl: ctx.config.publicUrl });
  /** Recordings as answers, each with its assets (one query for all of them). */
  const renderAll = async (rows: RecordingRow[]) => {
    const assets = await assetsOfRecordings(
      ctx.db,
      rows.map((r) => r.id),
    );
    return rows.map((r) => renderRecording(r, assets.get(r.id) ?? null, opts()));
  };
  const renderOne = async (r: RecordingRow) => (await renderAll([r]))[0];

  v2.post("/recordings/room/:room_id/start", async (req) => {
    const { room_id } = parseParams(roomParams, req.params);
    const body = parseBody(startBeamSchema, req.body);
    const room = await getRoom(ctx.db, room_id);
    const row = await createBeam(ctx.db, room, await getTemplate(ctx.db, room.template_id), body, "", outboundPolicy(ctx.config.outbound));
    req.log.info({ recording_id: row.id, room_id }, "browser recording requested");
    ctx.events.emit("recording.requested", { kind: "beam" });
    return renderRecording(row, null, opts());
  });

  v2.post("/recordings/:id/stop", async (req) => {
    const { id } = parseParams(idParams, req.params);
    const row = await requestStop(ctx.db, id, "client request");
    ctx.events.emit("recording.requested", { kind: "beam" });
    return renderOne(row);
  });

  v2.post("/recordings/room/:room_id/stop", async (req) => {
    const { room_id } = parseParams(roomParams, req.params);
    await getRoom(ctx.db, room_id);
    const active = await roomRecordings(ctx.db, { kind: "beam", roomId: room_id, statuses: ACTIVE_BEAM_STATUSES });
    if (!active.length)
      throw new AppError("not_found", "no active beam found for the passed in identifiers", {
        details: [`room ${room_id} has no recording that is starting or running`],
      });
    const rows = [];
    for (const { id } of active) rows.push(await requestStop(ctx.db, id, "client request"));
    ctx.events.emit("recording.requested", { kind: "beam" });
    // 100ms's sample: `last` is the last recording stopped.
    return { limit: rows.length, data: await renderAll(rows), last: rows.at(-1)?.id ?? "" };
  });

  for (const action of ["pause", "resume"] as const) {
    v2.post(`/recordings/room/:room_id/${action}`, async (req) => {
      const { room_id } = parseParams(roomParams, req.params);
      await getRoom(ctx.db, room_id);
      const row = await setPaused(ctx.db, room_id, action === "pause");
      ctx.events.emit("recording.requested", { kind: "beam" });
      return renderOne(row);
    });
  }

  v2.get("/recordings", async (req) => {
    const q = parseQuery(recordingListQuery, req.query);
    const rows = await listRecordings(ctx.db, { kind: q.kind ?? "beam", ...listFilter(q) });
    // Each item has its asset_types and recording_assets too (100ms's list sample shows asset_types only).
    const assets = await assetsOfRecordings(
      ctx.db,
      rows.slice(0, q.limit).map((r) => r.id),
    );
    return toPage(rows, q.limit, (r) => renderRecording(r, assets.get(r.id) ?? null, opts()));
  });

  v2.get("/recordings/:id", async (req) => {
    const { id } = parseParams(idParams, req.params);
    const r = await findRecording(ctx.db, id);
    if (!r || !SHOWN_KINDS.includes(r.kind)) throw notFound("recording", id);
    return renderRecording(r, await assetsOfRecording(ctx.db, id), opts());
  });
};
