import { z } from "zod";
import type { V2Routes } from "../api/server.ts";
import { pageQuery, toPage } from "../api/pagination.ts";
import { objectIdParam, parseParams, parseQuery } from "../api/validation.ts";
import { renderAsset } from "../assets/asset.repository.ts";
import type { AssetRow, RecordingRow } from "../db/schema.ts";
import { RECORDING_STATUSES } from "../domain/recording-types.ts";
import { notFound } from "../errors.ts";
import { parseJson, type Json } from "../util/json.ts";

// Read side of browser-composite recordings (GET one, list). Start/stop/pause/resume arrive with the
// browser recorder.

const idParams = z.object({ id: objectIdParam("recording_id") });
const listQuery = z.object({
  ...pageQuery,
  room_id: objectIdParam("room_id").optional(),
  session_id: objectIdParam("session_id").optional(),
  status: z.enum(RECORDING_STATUSES, { error: `status must be one of ${RECORDING_STATUSES.join(", ")}` }).optional(),
});

export function renderRecording(r: RecordingRow, assets: AssetRow[] | null): Json {
  const failure = parseJson<Json | null>(r.failure, null);
  const out: Json = {
    id: r.id,
    room_id: r.room_id,
    session_id: r.session_id ?? "",
    status: r.status,
    meeting_url: r.meeting_url,
    destination: r.destination,
    started_by: r.started_by,
    stopped_by: r.stopped_by,
    created_at: r.created_at,
    started_at: r.started_at,
    updated_at: r.updated_at,
    stopped_at: r.stopped_at,
    ...(failure ? { error: failure } : {}),
  };
  if (assets !== null) {
    out.asset_types = assets.length ? [...new Set(assets.map((a) => a.type))] : null;
    out.recording_assets = assets.length ? assets.map((a) => renderAsset(a, { embedded: true })) : null;
  }
  return out;
}

export const recordingRoutes: V2Routes = (v2, ctx) => {
  v2.get("/recordings", async (req) => {
    const q = parseQuery(listQuery, req.query);
    let query = ctx.db.selectFrom("recordings").selectAll().where("kind", "=", "beam").orderBy("id").limit(q.limit + 1);
    if (q.start) query = query.where("id", ">", q.start);
    if (q.room_id) query = query.where("room_id", "=", q.room_id);
    if (q.session_id) query = query.where("session_id", "=", q.session_id);
    if (q.status) query = query.where("status", "=", q.status);
    // The list omits recording_assets, as 100ms does.
    return toPage(await query.execute(), q.limit, (r) => renderRecording(r, null));
  });

  v2.get("/recordings/:id", async (req) => {
    const { id } = parseParams(idParams, req.params);
    const r = await ctx.db.selectFrom("recordings").selectAll().where("id", "=", id).where("kind", "=", "beam").executeTakeFirst();
    if (!r) throw notFound("recording", id);
    const assets = await ctx.db.selectFrom("recording_assets").selectAll().where("job_id", "=", id).orderBy("id").execute();
    return renderRecording(r, assets);
  });
};
