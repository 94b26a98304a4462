import type { Db } from "../db/database.ts";
import type { AssetRow } from "../db/schema.ts";
import type { AssetStatus, AssetType } from "../domain/recording-types.ts";
import { notFound } from "../errors.ts";
import { newObjectId, nowIso } from "../ids.ts";
import { parseJson, type Json } from "../util/json.ts";

export interface NewAsset {
  jobId: string;
  roomId: string;
  sessionId: string;
  type: AssetType;
  path: string;
  objectKey: string;
  /** From StorageService.sealLocation(): where the file lives, so a link can be made later. */
  location: string;
  status?: AssetStatus;
  size: number;
  duration: number;
  metadata?: Json;
  thumbnails?: string[] | null;
}

/** Written only after the file's upload succeeded (a row always points at a real object). */
export async function insertAsset(db: Db, a: NewAsset): Promise<AssetRow> {
  const row: AssetRow = {
    id: newObjectId(),
    job_id: a.jobId,
    room_id: a.roomId,
    session_id: a.sessionId,
    type: a.type,
    path: a.path,
    object_key: a.objectKey,
    location: a.location,
    status: a.status ?? "completed",
    size: a.size,
    duration: a.duration,
    metadata: JSON.stringify(a.metadata ?? {}),
    thumbnails: a.thumbnails ? JSON.stringify(a.thumbnails) : null,
    created_at: nowIso(),
  };
  await db.insertInto("recording_assets").values(row).execute();
  return row;
}

export async function getAsset(db: Db, id: string): Promise<AssetRow> {
  const row = await db.selectFrom("recording_assets").selectAll().where("id", "=", id).executeTakeFirst();
  if (!row) throw notFound("recording asset", id);
  return row;
}

/** A recording's assets (its `job_id`), oldest first. */
export async function assetsOfRecording(db: Db, recordingId: string): Promise<AssetRow[]> {
  return db.selectFrom("recording_assets").selectAll().where("job_id", "=", recordingId).orderBy("id").execute();
}

/** The asset object; embedded in a recording it omits job_id, room_id and session_id (as 100ms does). */
export function renderAsset(row: AssetRow, opts: { embedded?: boolean } = {}): Json {
  const ids = opts.embedded ? {} : { job_id: row.job_id, room_id: row.room_id, session_id: row.session_id };
  return {
    id: row.id,
    ...ids,
    type: row.type,
    path: row.path,
    status: row.status,
    size: Number(row.size),
    duration: Number(row.duration),
    created_at: row.created_at,
    thumbnails: parseJson(row.thumbnails, null),
    metadata: parseJson(row.metadata, {}),
  };
}

/**
 * The object key of the asset's `index`th thumbnail (its `thumbnails` holds storage paths, as 100ms
 * lists them), in the same destination as the asset; null when there is no such thumbnail or its path
 * is not in the asset's destination (never a key outside it).
 */
export function thumbnailObjectKey(row: AssetRow, index: number): string | null {
  const paths = parseJson<unknown>(row.thumbnails, null);
  if (!Array.isArray(paths) || !Number.isInteger(index) || index < 0 || index >= paths.length) return null;
  const p = paths[index];
  if (typeof p !== "string" || !row.path.endsWith(row.object_key)) return null;
  const base = row.path.slice(0, row.path.length - row.object_key.length);
  if (!p.startsWith(base)) return null;
  const key = p.slice(base.length);
  if (!key || key.split("/").some((s) => s === "" || s === "." || s === "..")) return null;
  return key;
}
