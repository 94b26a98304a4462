import type { Db } from "../../db/database.ts";
import type { AssetRow, PeerRow, RecordedTrackRow } from "../../db/schema.ts";
import { usableTracks } from "../sfu/sfu-recording.ts";

// What a session composed again is made from: the tracks its SFU recording uploaded (track recording,
// `track` assets), for the peers of the chosen roles. After the session's post-processing its spool
// files are removed, so the uploads are the only copy; they live in the room's destination or in the
// internal bucket, whose retention (TAPEDECK_RETENTION_DAYS) removes them in the end.

/** The tracks of one peer that a composed session shows and plays: its first camera, first screen share and first microphone. */
export interface PeerTracks {
  peer: PeerRow;
  camera?: RecordedTrackRow;
  screen?: RecordedTrackRow;
  audio?: RecordedTrackRow;
}

/** The session's visible peers (not tapedeck's hidden `__` roles) of `roles` (every role when null), in join order. */
export function shownPeers(peers: PeerRow[], roles: readonly string[] | null): PeerRow[] {
  return peers
    .filter((p) => !p.role.startsWith("__") && (!roles || roles.includes(p.role)))
    .sort((a, b) => a.joined_at.localeCompare(b.joined_at) || a.id.localeCompare(b.id));
}

/** Each peer's tracks (as the SFU composite picks them: the first of each source, by when it started). */
export function peerTracks(peers: PeerRow[], tracks: RecordedTrackRow[]): PeerTracks[] {
  const usable = usableTracks(tracks).sort((a, b) => a.started_at.localeCompare(b.started_at));
  return peers.map((peer) => {
    const mine = usable.filter((t) => t.peer_id === peer.id);
    return {
      peer,
      camera: mine.find((t) => t.kind === "video" && t.source !== "screen"),
      screen: mine.find((t) => t.kind === "video" && t.source === "screen"),
      audio: mine.find((t) => t.kind === "audio"),
    };
  });
}

/** Every track of these peers, once. */
export const tracksOf = (picked: PeerTracks[]): RecordedTrackRow[] =>
  picked.flatMap((p) => [p.camera, p.screen, p.audio].filter((t): t is RecordedTrackRow => t !== undefined));

/** The `track` assets of an SFU recording, by `<peer id>/<track id>`. */
export async function trackAssets(db: Db, sfuRecordingId: string): Promise<Map<string, AssetRow>> {
  const rows = await db
    .selectFrom("recording_assets")
    .selectAll()
    .where("job_id", "=", sfuRecordingId)
    .where("type", "=", "track")
    .where("status", "=", "completed")
    .execute();
  const out = new Map<string, AssetRow>();
  for (const a of rows) {
    const m = JSON.parse(a.metadata) as { peer_id?: string; track_id?: string };
    if (m.peer_id && m.track_id) out.set(`${m.peer_id}/${m.track_id}`, a);
  }
  return out;
}

export const assetKey = (t: Pick<RecordedTrackRow, "peer_id" | "track_id">): string => `${t.peer_id}/${t.track_id}`;
