import path from "node:path";
import type { Db } from "../db/database.ts";
import type { AssetRow } from "../db/schema.ts";
import { parseJson } from "../util/json.ts";

// The name a recording's file downloads as, for people: `<room name> <YYYY-MM-DD HH-MM>[ what].<ext>`
// (the time the session or recording started, UTC; `what` tells a room's files apart: a layer's
// resolution, the chat, whose track). The stored path and key never change; only the download is named.

export interface NameParts {
  roomName: string;
  /** When the session (else the recording, else the file) started, ISO. */
  startedAt: string;
  type: string;
  /** The stored path or key: only its extension is used. */
  path: string;
  metadata: Record<string, unknown>;
  /** The peer a track or per-peer file is of. */
  peerName?: string;
}

/** `2026-12-07T09:30:12Z` → `2026-12-07 09-30` (UTC; `:` is no file-name character on Windows). */
const stamp = (iso: string): string => {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toISOString().slice(0, 16).replace("T", " ").replace(":", "-");
};

function what(p: NameParts): string {
  const m = p.metadata;
  const res = m.resolution as { width?: unknown; height?: unknown } | undefined;
  switch (p.type) {
    case "chat":
      return "chat";
    case "transcript":
    case "summary":
      return p.type;
    case "track":
      return [p.peerName, typeof m.track_type === "string" ? m.track_type : ""].filter(Boolean).join(" ");
    case "stream":
      return [p.peerName, m.stream_type === "screen" || m.stream_type === "audio" ? m.stream_type : ""].filter(Boolean).join(" ");
    default:
      // One MP4 per layer of a live stream: its resolution tells them apart.
      return m.layer !== undefined && res?.width && res.height ? `${res.width}x${res.height}` : "";
  }
}

export function assetFileName(p: NameParts): string {
  const ext = path.extname(p.path).toLowerCase();
  return `${[p.roomName, stamp(p.startedAt), what(p)].filter(Boolean).join(" ")}${ext}`;
}

/** The download name of an asset, from its room, session or recording, and peer. */
export async function downloadName(db: Db, asset: AssetRow): Promise<string> {
  const metadata = parseJson<Record<string, unknown>>(asset.metadata, {});
  const peerId = typeof metadata.peer_id === "string" ? metadata.peer_id : "";
  const [room, session, recording, peer] = await Promise.all([
    db.selectFrom("rooms").select("name").where("id", "=", asset.room_id).executeTakeFirst(),
    asset.session_id ? db.selectFrom("sessions").select("created_at").where("id", "=", asset.session_id).executeTakeFirst() : undefined,
    db.selectFrom("recordings").select(["started_at", "created_at"]).where("id", "=", asset.job_id).executeTakeFirst(),
    peerId ? db.selectFrom("peers").select("name").where("id", "=", peerId).executeTakeFirst() : undefined,
  ]);
  return assetFileName({
    roomName: room?.name ?? "recording",
    startedAt: session?.created_at ?? recording?.started_at ?? recording?.created_at ?? asset.created_at,
    type: asset.type,
    path: asset.path || asset.object_key,
    metadata,
    peerName: peer?.name,
  });
}
