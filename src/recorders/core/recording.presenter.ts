import { renderAsset } from "../../assets/asset.repository.ts";
import type { Db } from "../../db/database.ts";
import type { AssetRow, RecordingRow } from "../../db/schema.ts";
import type { AssetType } from "../../domain/recording-types.ts";
import type { Json } from "../../util/json.ts";

// What every recording-like object (a browser recording, a live stream, an external stream) shows about
// its outputs and its page, the same way on every answer: start, stop, pause, resume, get and list.
// - `asset_types`: the types of asset the recording makes. Before it has any asset: what it is set to
//   make (100ms's start answer lists them with `recording_assets: null`); once it has assets, their
//   types; null for a recording that failed without any.
// - `recording_assets`: its assets, embedded (api renders them), or null while it has none.
// - `meeting_url`: the page the recorder opened; for tapedeck's own room page, that page's address
//   (`<public url>/room/<room_id>?skip_preview=true`, the shape of 100ms's built-in meeting URL). The
//   recorder's own token is added only to the address its browser opens, never shown.

/** The types a recording of this kind (and these details) makes, in the order 100ms lists them. */
export function plannedAssetTypes(r: Pick<RecordingRow, "kind" | "details">): AssetType[] | null {
  const d = parseDetails(r.details);
  switch (r.kind) {
    case "beam":
      return ["room-composite", "chat"];
    case "hls": {
      const types: AssetType[] = [];
      if (d.hls_vod === true) types.push("room-vod");
      if (d.single_file_per_layer === true) types.push("room-composite");
      return types.length ? [...types, "chat"] : null;
    }
    case "rtmp":
      return d.recording === true ? ["room-composite", "chat"] : null;
    case "compose":
      return ["room-composite"];
    default:
      return null;
  }
}

/**
 * What a session composed again (kind `compose`) was asked for, as its answers show it under `compose`:
 * `{layout, resolution: {width, height}, roles, from, to}` (seconds from the session's start); null for another kind.
 */
export function shownCompose(r: Pick<RecordingRow, "kind" | "details">): Json | null {
  if (r.kind !== "compose") return null;
  const d = parseDetails(r.details);
  return {
    layout: typeof d.layout === "string" ? d.layout : "grid",
    resolution: { width: Number(d.width) || 0, height: Number(d.height) || 0 },
    roles: Array.isArray(d.roles) ? d.roles.filter((x): x is string => typeof x === "string") : null,
    from: Number(d.fromMs) / 1000 || 0,
    to: Number(d.toMs) / 1000 || 0,
  };
}

/** `asset_types` of a recording with these assets (see the file comment). */
export function assetTypes(r: Pick<RecordingRow, "kind" | "details" | "status">, assets: readonly AssetRow[] | null): AssetType[] | null {
  if (assets?.length) return [...new Set(assets.map((a) => a.type as AssetType))];
  if (r.status === "failed" || r.status === "completed") return null;
  return plannedAssetTypes(r);
}

/** `recording_assets` of a recording with these assets: each embedded, or null while it has none. */
export function recordingAssets(assets: readonly AssetRow[] | null): Json[] | null {
  return assets?.length ? assets.map((a) => renderAsset(a, { embedded: true })) : null;
}

/** The meeting URL a recording shows: the caller's page, else tapedeck's room page for the room. */
export function shownMeetingUrl(r: Pick<RecordingRow, "meeting_url" | "room_id">, publicUrl: string | undefined): string {
  if (r.meeting_url || !publicUrl) return r.meeting_url;
  return `${publicUrl.replace(/\/+$/, "")}/room/${r.room_id}?skip_preview=true`;
}

/** The assets of each of these recordings (by `job_id`), oldest first; one query for a page of a list. */
export async function assetsOfRecordings(db: Db, ids: readonly string[]): Promise<Map<string, AssetRow[]>> {
  const out = new Map<string, AssetRow[]>(ids.map((id) => [id, []]));
  if (!ids.length) return out;
  const rows = await db
    .selectFrom("recording_assets")
    .selectAll()
    .where("job_id", "in", [...ids])
    .orderBy("id")
    .execute();
  for (const a of rows) out.get(a.job_id)?.push(a);
  return out;
}

function parseDetails(details: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(details);
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
