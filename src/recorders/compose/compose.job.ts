import fs from "node:fs";
import path from "node:path";
import type { AppContext } from "../../app-context.ts";
import type { AssetRow, PeerRow, RecordedTrackRow, RecordingRow, RoomRow, SessionRow } from "../../db/schema.ts";
import type { RecordingFailure } from "../../domain/recording-types.ts";
import { composePath } from "../../domain/storage-paths.ts";
import { AppError } from "../../errors.ts";
import { nowIso } from "../../ids.ts";
import type { JobContext, JobHandler, JobPayloads } from "../../jobs/job-queue.ts";
import { buildLevelArgs, parseLevels } from "../../media/audio-levels.ts";
import { MediaProcessError, runFfmpeg } from "../../media/process.ts";
import { getRoom, roomDestination } from "../../rooms/room.service.ts";
import type { EnqueueInput } from "../../webhooks/outbox.ts";
import { commitOutputs, failedRecording, failRecording, probeMp4 } from "../core/finish.ts";
import { describeSfuFailure, RecordingInputError } from "../core/recording-failure.ts";
import { findRecording, updateRecording } from "../core/recording.repository.ts";
import { deliverQuality, qualityWebhookKeys } from "../core/quality.ts";
import { uploadRecording } from "../core/upload.ts";
import { composeSession } from "../sfu/composite.ts";
import { downloadAsset } from "../sfu/remote-tracks.ts";
import type { PeerPresence, TrackRef } from "../sfu/composite-layout.ts";
import { planCompose, type SpeakerChange } from "./compose-plan.ts";
import { type ComposeDetails, composeRecording } from "./compose-recorder.ts";
import { assetKey, type PeerTracks, peerTracks, shownPeers, trackAssets, tracksOf } from "./compose-tracks.ts";
import { undecodable } from "./track-check.ts";
import { type PeerLevels, speakerTimeline } from "./speaker-timeline.ts";

// The `compose-session` job: a closed session composed again (POST /v2/sessions/:id/compose).
//   1. the tracks of the peers shown are downloaded from their uploads (track recording) into the
//      compose's work folder, and each must decode a first frame (track-check.ts); one no longer in
//      storage, or that does not decode, is left out (its tile shows no picture, or no sound) and named
//      in the webhook with why; when none is left, the compose fails at once (INPUT_ERROR: no retry
//      brings a removed or corrupt upload back) with a message that says which and why;
//   2. for active-speaker, each audio track's level is measured (one ffmpeg pass each) and the live
//      compositor's rule finds who speaks when (speaker-timeline.ts);
//   3. the range is planned in segments with the live compositor's layouts (compose-plan.ts) and
//      rendered by the SFU composite's renderer (sfu/composite.ts): H.264 + AAC, 30 fps;
//   4. the MP4 goes to the room's destination (looked up now), beside the session's other files, and
//      its asset, the recording's `completed` and `compose.success` are written in one transaction.
// A media failure (ffmpeg killed, timed out, or failing on tracks that decoded) is retried twice, then
// reported (PROCESSING_CMD_ERROR); a download or upload that fails is retried as long as the job queue
// retries (7 days), then reported (CLOUD_ACCESS_ERROR); each failure is `compose.failure`.
// Downloaded tracks and rendered segments stay in the work folder between attempts; it is removed at the end.

type ComposePayload = JobPayloads["compose-session"];

/** Attempts before a media failure (ffmpeg) is reported instead of retried. */
const MEDIA_ATTEMPTS = 3;
/** Segment runs at once: many are short (a speaker change), so ffmpeg's start-up is much of each. */
const SEGMENTS_AT_ONCE = 2;

/** Nothing is left to compose (100ms: INPUT_ERROR): every track to show is gone from storage or does not decode. */
export class ComposeInputError extends RecordingInputError {
  override readonly name = "ComposeInputError";
}

const fileSafe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, "_");

/** Where a compose downloads tracks and renders before its upload. */
export const composeWorkDir = (dataDir: string, composeId: string): string => path.join(dataDir, "spool", "compose", fileSafe(composeId));

/** A compose with what it works on. */
interface Target {
  rec: RecordingRow;
  d: ComposeDetails;
  room: RoomRow;
  session: SessionRow;
  /** The peers shown (of the chosen roles), with their tracks. */
  picked: PeerTracks[];
}

/** A track of a shown peer left out of the compose: `gone` from storage, or there but `unreadable` (no frame decodes). */
interface MissingTrack {
  peer_id: string;
  track_id: string;
  kind: string;
  reason: "gone" | "unreadable";
}

async function load(ctx: AppContext, id: string): Promise<Target | null> {
  const rec = await findRecording(ctx.db, id, composeRecording.kind);
  if (!rec?.session_id) return null;
  const d = composeRecording.details(rec);
  const session = await ctx.db.selectFrom("sessions").selectAll().where("id", "=", rec.session_id).executeTakeFirstOrThrow();
  const room = await getRoom(ctx.db, rec.room_id);
  const peers: PeerRow[] = await ctx.db.selectFrom("peers").selectAll().where("session_id", "=", session.id).execute();
  const tracks = await ctx.db.selectFrom("recorded_tracks").selectAll().where("recording_id", "=", d.sfuRecordingId).execute();
  return { rec, d, room, session, picked: peerTracks(shownPeers(peers, d.roles), tracks) };
}

/** A failure worth reporting now rather than retrying: nothing to compose, or ffmpeg failed MEDIA_ATTEMPTS times. */
function reportable(err: unknown, jc: JobContext): boolean {
  if (jc.signal.aborted) return false;
  if (err instanceof RecordingInputError) return true;
  return err instanceof MediaProcessError && jc.attempt >= MEDIA_ATTEMPTS;
}

/** Downloads a track's upload into `dir` (kept between attempts when whole); null when it is no longer in storage. */
async function download(ctx: AppContext, t: RecordedTrackRow, asset: AssetRow, dir: string): Promise<string | null> {
  return downloadAsset(ctx, asset, path.join(dir, `${fileSafe(t.id)}.webm`));
}

/** Each usable track's local file (by its row id); the tracks left out, and why each (for the failure's message). */
async function fetchTracks(ctx: AppContext, t: Target, work: string, jc: JobContext) {
  const assets = await trackAssets(ctx.db, t.d.sfuRecordingId);
  const files = new Map<string, string>();
  const missing: MissingTrack[] = [];
  const why: string[] = [];
  for (const track of tracksOf(t.picked)) {
    const asset = assets.get(assetKey(track));
    // Uploads finish soon after the session; the API refuses a compose before, but a retry may see one again.
    if (!asset && track.upload === "pending")
      throw new AppError("unavailable", `track ${track.track_id} is not uploaded yet`, { details: ["the compose runs again once it is"] });
    const fields = { track_id: track.track_id, peer_id: track.peer_id, kind: track.kind };
    const name = `${track.kind} track ${track.track_id} of peer ${track.peer_id}`;
    const file = asset ? await download(ctx, track, asset, path.join(work, "tracks")) : null;
    if (!file) {
      missing.push({ ...fields, reason: "gone" });
      why.push(`${name}: gone from storage`);
      jc.log.warn(fields, "track no longer in storage: left out of the compose");
      continue;
    }
    // The upload was there, but is it still a recording? (Overwritten, cut short: the API only saw that it exists.)
    const bad = await undecodable(file, track.kind, { workDir: path.join(work, "checks"), signal: jc.signal, log: jc.log });
    if (bad) {
      missing.push({ ...fields, reason: "unreadable" });
      why.push(`${name}: cannot be decoded (${bad.reason})`);
      jc.log.warn({ ...fields, reason: bad.reason, key: asset?.object_key }, "track in storage does not decode: left out of the compose");
      continue;
    }
    files.set(track.id, file);
  }
  return { files, missing, why };
}

/** At most this many tracks are named in a failure's message (a long one is cut, saying how many more). */
const NAMED_IN_FAILURE = 5;

/** Why nothing is left to compose, as the failure's message: the cause in its first words, then the tracks. */
function nothingLeft(missing: MissingTrack[], why: string[]): string {
  const gone = missing.filter((m) => m.reason === "gone").length;
  const head =
    gone === missing.length
      ? `the session's recorded tracks are gone from storage: none of the ${missing.length} tracks to compose could be downloaded`
      : gone === 0
        ? `the session's recorded tracks cannot be decoded: none of the ${missing.length} tracks to compose holds media ffmpeg can read (overwritten or damaged in the bucket?)`
        : `none of the ${missing.length} tracks to compose can be used: ${gone} gone from storage, ${missing.length - gone} cannot be decoded`;
  const more = why.length > NAMED_IN_FAILURE ? [`and ${why.length - NAMED_IN_FAILURE} more`] : [];
  return `${head}; ${[...why.slice(0, NAMED_IN_FAILURE), ...more].join("; ")}`;
}

/** The composite's input: each shown peer's presence and tracks on the session's timeline, from the local files. */
function presences(t: Target, files: Map<string, string>): PeerPresence[] {
  const origin = Date.parse(t.session.created_at);
  const ref = (track: RecordedTrackRow | undefined): TrackRef | undefined => {
    const file = track && files.get(track.id);
    if (!track || !file) return undefined;
    return {
      file,
      startMs: Date.parse(track.first_media_at!) - origin,
      ...(track.ended_at ? { endMs: Date.parse(track.ended_at) - origin } : {}),
    };
  };
  const end = Date.parse(t.session.ended_at ?? t.session.updated_at) - origin;
  return t.picked.map(({ peer, camera, screen, audio }) => ({
    peerId: peer.id,
    name: peer.name,
    joinedAtMs: Math.max(0, Date.parse(peer.joined_at) - origin),
    leftAtMs: peer.left_at ? Date.parse(peer.left_at) - origin : end,
    video: ref(camera),
    screen: ref(screen),
    audio: ref(audio),
  }));
}

/** Who speaks when, from each peer's audio levels (one ffmpeg pass per audio track, kept between attempts). */
async function speakers(peers: PeerPresence[], work: string, untilMs: number, jc: JobContext): Promise<SpeakerChange[]> {
  const levels: PeerLevels[] = [];
  for (const p of peers) {
    if (!p.audio) continue;
    const out = path.join(work, "levels", `${fileSafe(p.peerId)}.txt`);
    if (!fs.existsSync(out)) {
      fs.mkdirSync(path.dirname(out), { recursive: true });
      const part = `${out}.part`;
      try {
        await runFfmpeg(buildLevelArgs({ input: p.audio.file, out: part }), { signal: jc.signal, log: jc.log, stallTimeoutMs: 120_000 });
        fs.renameSync(part, out);
      } finally {
        fs.rmSync(part, { force: true });
      }
    }
    const startMs = p.audio.startMs;
    levels.push({
      peerId: p.peerId,
      windows: parseLevels(fs.readFileSync(out, "utf8")).map((w) => ({ atMs: startMs + w.t * 1000, db: w.db })),
    });
  }
  return speakerTimeline(levels, { presence: peers, untilMs });
}

export function composeSessionHandler(ctx: AppContext): JobHandler<ComposePayload> {
  const failureEvent = (t: Target, failure: RecordingFailure): EnqueueInput => ({
    type: composeRecording.events.failure,
    room: { id: t.room.id, webhook: t.room.webhook },
    data: {
      ...composeRecording.webhookBase(t.rec, t.room, t.d),
      error_type: failure.type,
      error_message: failure.message,
      error_origin: failure.origin,
    },
  });

  const fail = async (t: Target, failure: RecordingFailure) => {
    await failRecording(ctx, {
      recordingId: t.rec.id,
      kind: composeRecording.kind,
      failure,
      set: { ...failedRecording(failure), stopped_at: nowIso() },
      event: failureEvent(t, failure),
    });
    fs.rmSync(composeWorkDir(ctx.config.dataDir, t.rec.id), { recursive: true, force: true });
  };

  const compose = async (t: Target, jc: JobContext) => {
    const { rec, d, room, session } = t;
    const work = composeWorkDir(ctx.config.dataDir, rec.id);
    const t0 = Date.now();
    const { files, missing, why } = await fetchTracks(ctx, t, work, jc);
    if (files.size === 0) throw new ComposeInputError(nothingLeft(missing, why));
    const peers = presences(t, files);
    const out = path.join(work, "compose.mp4");
    if (!fs.existsSync(out)) {
      const plan = planCompose({
        sessionStartedAt: session.created_at,
        durationMs: Date.parse(session.ended_at ?? session.updated_at) - Date.parse(session.created_at),
        peers,
        layout: d.layout,
        canvas: { width: d.width, height: d.height, fps: 30 },
        fromMs: d.fromMs,
        toMs: d.toMs,
        speakers: d.layout === "active-speaker" ? await speakers(peers, work, d.toMs, jc) : [],
        chunkMs: ctx.config.recording.compositeChunkMs,
      });
      const r = await composeSession(plan, {
        outFile: out,
        workDir: path.join(work, "segments"),
        concurrency: SEGMENTS_AT_ONCE,
        signal: jc.signal,
        log: jc.log,
      });
      jc.log.info({ segments: r.segments, duration: r.durationSeconds, wall_ms: Date.now() - t0 }, "session composed");
    }
    const probe = await probeMp4(out, { signal: jc.signal, log: jc.log });
    const dest = await roomDestination(ctx, room);
    const relative = composePath({ roomId: room.id, sessionStartedAt: session.created_at, sessionId: session.id, composeId: rec.id });
    const up = await uploadRecording(ctx, dest, relative, out, "video/mp4");
    const quality = await deliverQuality(ctx, {
      file: out,
      dest,
      relativePath: relative,
      forType: "room-composite",
      forPath: up.path,
      expectVideo: true,
      signal: jc.signal,
      log: jc.log,
    });
    const owner = { jobId: rec.id, roomId: room.id, sessionId: session.id };
    const done = await commitOutputs(ctx, {
      replace: { jobId: rec.id },
      assets: [
        {
          ...owner,
          type: "room-composite",
          path: up.path,
          objectKey: up.key,
          location: up.location,
          size: up.size,
          duration: probe.duration,
          metadata: {
            resolution: { width: probe.width || d.width, height: probe.height || d.height },
            layout: d.layout,
            roles: d.roles,
            from: d.fromMs / 1000,
            to: d.toMs / 1000,
          },
        },
      ],
      quality: { owner, reports: [quality] },
      recording: {
        id: rec.id,
        kind: composeRecording.kind,
        set: { stopped_at: nowIso(), details: JSON.stringify({ ...d, ...(missing.length ? { missingTracks: missing } : {}) }) },
      },
      event: ([asset]) => ({
        type: composeRecording.events.success,
        room: { id: room.id, webhook: room.webhook },
        data: {
          ...composeRecording.webhookBase(rec, room, d),
          asset_id: asset.id,
          recording_path: asset.path,
          recording_presigned_url: up.url,
          size: up.size,
          duration: probe.duration,
          session_started_at: session.created_at,
          session_stopped_at: session.ended_at,
          missing_tracks: missing,
          ...qualityWebhookKeys(quality),
        },
      }),
    });
    if (done) jc.log.info({ key: up.key, size: up.size, missing: missing.length }, "session compose uploaded");
    fs.rmSync(work, { recursive: true, force: true });
  };

  return {
    async run(p, jc) {
      const t = await load(ctx, p.recordingId);
      if (t?.rec.status !== "post_processing") return;
      jc.log = jc.log.child({ recording_id: t.rec.id, session_id: t.session.id, room_id: t.room.id });
      if (!t.rec.started_at) await updateRecording(ctx.db, t.rec.id, { started_at: nowIso(), updated_at: nowIso() });
      try {
        await compose(t, jc);
      } catch (err) {
        if (!reportable(err, jc)) throw err;
        jc.log.error({ err }, "session compose failed");
        await fail(t, describeSfuFailure(err));
      }
    },

    async onFailed(p, error) {
      const t = await load(ctx, p.recordingId);
      if (t) await fail(t, describeSfuFailure(error));
    },
  };
}
