import { z } from "zod";
import type { V2Routes } from "../api/server.ts";
import { afterCursor, listPageQuery, toPage } from "../api/pagination.ts";
import { objectIdParam, parseParams, parseQuery } from "../api/validation.ts";
import { ASSET_STATUSES, ASSET_TYPES } from "../domain/recording-types.ts";
import { AppError } from "../errors.ts";
import { getAsset, renderAsset, thumbnailObjectKey } from "./asset.repository.ts";
import { downloadName } from "./download-name.ts";
import { parseJson, type Json } from "../util/json.ts";

const MAX_PRESIGN_SECONDS = 7 * 86400; // the longest an S3 SigV4 URL can live
const OSS_DEFAULT_PRESIGN_SECONDS = 9 * 3600;

const idParams = z.object({ id: objectIdParam("asset_id") });
const listQuery = z.object({
  ...listPageQuery,
  room_id: objectIdParam("room_id").optional(),
  session_id: objectIdParam("session_id").optional(),
  status: z.enum(ASSET_STATUSES, { error: `status must be one of ${ASSET_STATUSES.join(", ")}` }).optional(),
  type: z.enum(ASSET_TYPES, { error: `type must be one of ${ASSET_TYPES.join(", ")}` }).optional(),
});
const presignQuery = z.object({
  presign_duration: z.coerce
    .number({ error: "presign_duration must be a number of seconds" })
    .int("presign_duration must be a whole number of seconds")
    .min(1, `presign_duration must be between 1 and ${MAX_PRESIGN_SECONDS} seconds`)
    .max(MAX_PRESIGN_SECONDS, `presign_duration must be between 1 and ${MAX_PRESIGN_SECONDS} seconds (7 days)`)
    .optional(),
  /** tapedeck (the dashboard): presign the asset's `thumbnails[thumbnail]` instead of its file. */
  thumbnail: z.coerce
    .number({ error: "thumbnail must be the index of one of the asset's thumbnails" })
    .int("thumbnail must be the index of one of the asset's thumbnails")
    .min(0, "thumbnail must be the index of one of the asset's thumbnails")
    .optional(),
});

export const assetRoutes: V2Routes = (v2, ctx) => {
  v2.get("/recording-assets", async (req) => {
    const q = parseQuery(listQuery, req.query);
    let query = ctx.db
      .selectFrom("recording_assets")
      .selectAll()
      .orderBy("id", q.order)
      .limit(q.limit + 1);
    if (q.start) query = query.where("id", afterCursor(q.order), q.start);
    if (q.room_id) query = query.where("room_id", "=", q.room_id);
    if (q.session_id) query = query.where("session_id", "=", q.session_id);
    if (q.status) query = query.where("status", "=", q.status);
    if (q.type) query = query.where("type", "=", q.type);
    return toPage(await query.execute(), q.limit, (r) => renderAsset(r));
  });

  v2.get("/recording-assets/:id", async (req) => {
    const { id } = parseParams(idParams, req.params);
    return renderAsset(await getAsset(ctx.db, id));
  });

  // tapedeck addition: a `quality` asset's report, whole (what its JSON file in the bucket holds).
  v2.get("/recording-assets/:id/quality-report", async (req) => {
    const { id } = parseParams(idParams, req.params);
    const asset = await getAsset(ctx.db, id);
    if (asset.type !== "quality")
      throw new AppError("not_found", "quality report not found", { details: [`asset ${id} is a ${asset.type}, not a quality report`] });
    const row = await ctx.db.selectFrom("quality_reports").select("report").where("asset_id", "=", id).executeTakeFirst();
    if (!row) throw new AppError("not_found", "quality report not found", { details: [`no report is kept for asset ${id}`] });
    return parseJson<Json>(row.report, {});
  });

  v2.get("/recording-assets/:id/presigned-url", async (req) => {
    const { id } = parseParams(idParams, req.params);
    const q = parseQuery(presignQuery, req.query);
    const asset = await getAsset(ctx.db, id);
    if (asset.status !== "completed") {
      throw new AppError("conflict", "recording asset has no file", { details: [`asset ${id} has status ${asset.status}`] });
    }
    const storage = ctx.storage.openLocation(asset.location);
    const expiry = q.presign_duration ?? (storage.kind === "oss" ? OSS_DEFAULT_PRESIGN_SECONDS : ctx.config.presignSeconds);
    if (q.thumbnail !== undefined) {
      const key = thumbnailObjectKey(asset, q.thumbnail);
      if (!key) throw new AppError("not_found", "thumbnail not found", { details: [`asset ${id} has no thumbnail ${q.thumbnail}`] });
      if (storage.kind === "internal" && !(await storage.head(key)))
        throw new AppError("not_found", "thumbnail is gone", { details: [`the internal bucket has removed ${storage.displayPath(key)}`] });
      return { id: asset.id, path: storage.displayPath(key), url: await storage.presignGet(key, expiry), expiry };
    }
    if (storage.kind === "internal" && !(await storage.head(asset.object_key))) {
      throw new AppError("not_found", "recording file is gone", {
        details: [
          `the internal bucket keeps files for ${Math.round(ctx.config.retentionMs / 86_400_000)} days; ${asset.path} has been removed`,
        ],
      });
    }
    // Downloaded, the file is named for people (`<room name> <date time>.mp4`); the stored path is unchanged.
    const url = await storage.presignGet(asset.object_key, expiry, { downloadName: await downloadName(ctx.db, asset) });
    return { id: asset.id, path: asset.path, url, expiry };
  });
};
