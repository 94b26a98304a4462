import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { AppContext } from "../../app-context.ts";
import { localNode } from "../../config/local-node.ts";
import type { AssetRow, RecordedTrackRow } from "../../db/schema.ts";
import { AppError } from "../../errors.ts";
import type { JobContext } from "../../jobs/job-queue.ts";
import type { LoadedSession } from "./session-recording.state.ts";
import { sessionWorkDir } from "./sfu-recording.ts";
import { takenOverFrom } from "./upload-track.job.ts";

// In a cluster a session's tracks are written to the spool of the node each peer is connected to, and
// the session's post-processing may run elsewhere: on the worker that took the job over from a dead
// node, or on the node where the session went on after its first node died. Before anything reads a
// track file, each one not on this machine is looked for where else it can be: its own upload (track
// recording, a `track` asset) is downloaded into the session's work folder and used in its place; a
// track its node still has and is about to upload is waited for (the job retries); a track that never
// reached storage and whose node is gone is lost: left out of the composite and the per-peer files,
// which are made from what exists.

export interface LostTrack {
  track: RecordedTrackRow;
  /** The node whose spool held it. */
  node: string;
}

const fileSafe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, "_");

/** Tracks whose file matters: with media written (closed, or left `recording` by a crash). */
const withMedia = (t: RecordedTrackRow) => Boolean(t.first_media_at) && (t.state === "finished" || t.state === "recording");

/**
 * The node a track was recorded on, when it is not this one: its peer's node, else (a peer row from
 * before the cluster columns) the dead node this job was taken over from. Null: here, or unknown.
 */
function recordedElsewhere(s: LoadedSession, t: RecordedTrackRow, jc: JobContext): string | null {
  const node = s.peers.find((p) => p.id === t.peer_id)?.node_id ?? takenOverFrom(jc);
  return node && node !== localNode() ? node : null;
}

/** The track's own upload, if it reached storage. */
function trackAsset(assets: AssetRow[], t: RecordedTrackRow): AssetRow | undefined {
  return assets.find((a) => {
    const m = JSON.parse(a.metadata) as { peer_id?: string; track_id?: string };
    return m.peer_id === t.peer_id && m.track_id === t.track_id;
  });
}

/** Downloads a track's upload into the session's work folder (never outside the data directory); returns the file. */
async function download(ctx: AppContext, s: LoadedSession, t: RecordedTrackRow, asset: AssetRow): Promise<string | null> {
  const dataDir = path.resolve(ctx.config.dataDir);
  const file = path.resolve(sessionWorkDir(dataDir, s.session.id), "tracks", `${fileSafe(t.id)}.webm`);
  const inside = path.relative(dataDir, file);
  if (inside.startsWith("..") || path.isAbsolute(inside))
    throw new AppError("internal", `a downloaded track would be written outside the data directory: ${file}`);
  return downloadAsset(ctx, asset, file);
}

/**
 * Downloads an asset's object to `file` (kept when an earlier attempt got it whole; written under a
 * `.part` name until complete); null when it is gone from its bucket (the internal bucket's retention,
 * or removed by hand): as lost as if it had never been uploaded.
 */
export async function downloadAsset(ctx: Pick<AppContext, "storage">, asset: AssetRow, file: string): Promise<string | null> {
  if (fs.existsSync(file) && fs.statSync(file).size === Number(asset.size)) return file;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const part = `${file}.part`;
  try {
    await pipeline(await ctx.storage.openLocation(asset.location).get(asset.object_key), fs.createWriteStream(part));
    fs.renameSync(part, file);
  } catch (err) {
    if (err instanceof AppError && err.reason === "not_found") return null;
    throw err;
  } finally {
    fs.rmSync(part, { force: true });
  }
  return file;
}

/** Whether a node is alive (it will upload what its spool holds). */
async function nodeAlive(ctx: AppContext, node: string): Promise<boolean> {
  const row = await ctx.db.selectFrom("nodes").select("state").where("id", "=", node).executeTakeFirst();
  return row !== undefined && row.state !== "dead";
}

/**
 * Makes every track with media usable from this node: a file missing here is replaced (in `s.tracks`)
 * by its upload, downloaded; returns the tracks that are lost. Throws (the job retries) while a track's
 * live node has still to upload it.
 */
export async function fetchRemoteTracks(ctx: AppContext, s: LoadedSession, jc: JobContext): Promise<LostTrack[]> {
  const missing = s.tracks.filter((t) => withMedia(t) && !fs.existsSync(t.file));
  if (missing.length === 0) return [];
  const assets = await ctx.db
    .selectFrom("recording_assets")
    .selectAll()
    .where("job_id", "=", s.rec.id)
    .where("type", "=", "track")
    .where("status", "=", "completed")
    .execute();
  const lost: LostTrack[] = [];
  for (const t of missing) {
    const node = recordedElsewhere(s, t, jc);
    const fields = { track_id: t.track_id, peer_id: t.peer_id, kind: t.kind, node };
    const asset = trackAsset(assets, t);
    const file = asset ? await download(ctx, s, t, asset) : null;
    if (file) {
      jc.log.info({ ...fields, key: asset?.object_key, size: asset?.size }, "track file not on this node: its upload is used");
      t.file = file;
      continue;
    }
    // A file missing on its own node (outside a cluster, or here) is not a cluster matter: the steps
    // after this one treat it as before (an empty or unreadable track).
    if (!node) continue;
    if (t.upload === "pending" && (await nodeAlive(ctx, node)))
      throw new AppError("unavailable", `track ${t.track_id} is on node ${node}, which has not uploaded it yet`, {
        details: ["the post-processing runs again once it has"],
      });
    jc.log.warn(fields, "track recorded on a node that died before uploading it: left out of the composite and the per-peer files");
    lost.push({ track: t, node });
  }
  return lost;
}
