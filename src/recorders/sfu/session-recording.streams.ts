import fs from "node:fs";
import path from "node:path";
import type { AppContext } from "../../app-context.ts";
import type { RecordedTrackRow } from "../../db/schema.ts";
import { streamPath } from "../../domain/storage-paths.ts";
import type { UploadConfig } from "../../domain/upload-config.ts";
import type { JobContext } from "../../jobs/job-queue.ts";
import { commitOutputs } from "../core/finish.ts";
import { deliverQuality, qualityWebhookKeys, trackQuality } from "../core/quality.ts";
import { describeSfuFailure } from "../core/recording-failure.ts";
import { uploadRecording } from "../core/upload.ts";
import { pieceSource, renderPeerStream } from "./per-peer.ts";
import { renderWrittenPieces } from "./per-peer-pieces.ts";
import type { PictureMeasure } from "../../quality/picture.ts";
import { isCopyable } from "../../media/per-peer-args.ts";
import { probe } from "../../media/process.ts";
import type { LostTrack } from "./remote-tracks.ts";
import { lostWithNodeMessage } from "./upload-track.job.ts";
import type { RecordingFailure, SfuErrorType } from "../../domain/recording-types.ts";
import { type LoadedSession, reportable, saveDone, seconds } from "./session-recording.state.ts";
import { LIVE_SAFETY_MS, sessionWorkDir, usableTracks } from "./sfu-recording.ts";

// The per-peer step of the SFU recording's post-processing (session-recording.job.ts), "stream
// recording": one MP4 per peer stream (per-peer.ts renders it), asset `stream`, announced by
// `stream.recording.success`, or by `stream.recording.failure` when its media cannot be rendered. Each
// stream is a step of its own in the recording's details, so a retry renders only the streams left.
// A stream whose tracks were all lost with their node (remote-tracks.ts) is announced by its failure;
// one that lost only some is rendered from the others.

const fileSafe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, "_");

/** The fields every stream webhook has, from the stream's tracks. */
function streamBase(s: LoadedSession, tracks: RecordedTrackRow[]) {
  const video = tracks.find((t) => t.kind === "video");
  const first = tracks[0];
  return {
    room_id: s.room.id,
    session_id: s.session.id,
    peer_id: first.peer_id,
    stream_id: first.stream_id,
    user_id: s.peers.find((p) => p.id === first.peer_id)?.user_id ?? "",
    stream_type: !video ? "audio" : video.source === "screen" ? "screen" : "regular",
  };
}

/** `stream.recording.failure` for one peer stream, and the step recorded as failed. */
async function failStream(
  ctx: AppContext,
  s: LoadedSession,
  o: { id: string; tracks: RecordedTrackRow[]; failure: RecordingFailure<SfuErrorType> },
): Promise<void> {
  await commitOutputs(ctx, {
    assets: [],
    event: () => ({
      type: "stream.recording.failure",
      room: { id: s.room.id, webhook: s.room.webhook },
      templateId: s.room.template_id,
      data: {
        ...streamBase(s, o.tracks),
        size: 0,
        duration: 0,
        recording_id: "",
        recording_path: "",
        error_message: o.failure.message,
        error_origin: o.failure.origin,
      },
    }),
    also: (trx) => saveDone(trx, s.rec, s.details, `stream:${o.id}`, "failed"),
  });
}

/** Peer streams made at once at the close. */
const STREAMS_AT_ONCE = 2;

/** Where a stream's video pieces are made (per-peer-pieces.ts). */
const piecesDir = (work: string, video: RecordedTrackRow) => path.join(work, "pieces", fileSafe(video.peer_id), fileSafe(video.track_id));

/** The peer streams of the session's usable tracks: `<peer id>/<stream id>` to its tracks. */
function streamGroups(tracks: RecordedTrackRow[]): Map<string, RecordedTrackRow[]> {
  const groups = new Map<string, RecordedTrackRow[]>();
  for (const t of usableTracks(tracks))
    groups.set(`${t.peer_id}/${t.stream_id}`, [...(groups.get(`${t.peer_id}/${t.stream_id}`) ?? []), t]);
  return groups;
}

/** Whether each track file's video is copied (H.264) or transcoded, once learnt (its codec does not change). */
const known = new Map<string, { copy: boolean }>();

/**
 * While the session runs (the `composite-progress` tick): the written pieces of each stream video that
 * the per-peer MP4 will transcode (not H.264), so at the close only their tails are left. Tracks on
 * another node are skipped (their files are not here). Returns how many pieces it made.
 */
export async function renderStreamPieces(ctx: AppContext, s: LoadedSession, jc: JobContext, nowMs = Date.now()): Promise<number> {
  const work = sessionWorkDir(ctx.config.dataDir, s.session.id);
  const origin = Date.parse(s.session.created_at);
  let made = 0;
  for (const tracks of streamGroups(s.tracks).values()) {
    const video = tracks.find((t) => t.kind === "video" && fs.existsSync(t.file));
    if (!video || jc.signal.aborted) continue;
    const audio = tracks.find((t) => t.kind === "audio");
    const startMs = (t: RecordedTrackRow) => Date.parse(t.first_media_at!) - origin;
    try {
      let k = known.get(video.file);
      if (!k) {
        const codec = (await probe(video.file, { signal: jc.signal, log: jc.log })).streams.find(
          (x) => x.codec_type === "video",
        )?.codec_name;
        if (!codec) continue; // no frame written yet
        k = { copy: isCopyable(codec) };
        if (known.size > 1000) known.clear();
        known.set(video.file, k);
      }
      if (k.copy) continue;
      // The audio's start is part of the first piece: learnt once it has one.
      const src = await pieceSource({ file: video.file, startMs: startMs(video) }, audio && { startMs: startMs(audio) }, jc);
      const end = video.state === "recording" ? nowMs - LIVE_SAFETY_MS : Date.parse(video.ended_at ?? "") || nowMs - LIVE_SAFETY_MS;
      made += await renderWrittenPieces(src, (end - Date.parse(video.first_media_at!)) / 1000, {
        dir: piecesDir(work, video),
        chunkMs: s.details.chunkMs,
        signal: jc.signal,
        log: jc.log,
      });
    } catch (err) {
      if (jc.signal.aborted) throw err;
      // Not fatal: what is missing is made at the close.
      jc.log.warn({ err, track_id: video.track_id }, "stream video piece could not be made during the session");
    }
  }
  return made;
}

/** Renders, uploads and announces each peer stream not done yet; the destination is looked up by the caller at each attempt. */
export async function processPeerStreams(
  ctx: AppContext,
  s: LoadedSession,
  o: { dest: UploadConfig | null; work: string; jc: JobContext; lost?: LostTrack[] },
): Promise<void> {
  const { dest, work, jc } = o;
  const groups = streamGroups(s.tracks);
  const lostStreams = new Map<string, LostTrack[]>();
  for (const l of o.lost ?? []) {
    const id = `${l.track.peer_id}/${l.track.stream_id}`;
    if (!groups.has(id)) lostStreams.set(id, [...(lostStreams.get(id) ?? []), l]);
  }
  for (const [id, lost] of lostStreams) {
    if (s.details.done?.[`stream:${id}`]) continue;
    const failure = { type: "API_ERROR", origin: "internal", message: lostWithNodeMessage(lost[0].node) } as const;
    await failStream(ctx, s, { id, tracks: lost.map((l) => l.track), failure });
  }
  const origin = Date.parse(s.session.created_at);
  // Each stream's details are written whole (saveDone): its commit waits for the one before it.
  let commits: Promise<unknown> = Promise.resolve();
  const inTurn = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = commits.then(fn);
    commits = next.catch(() => undefined);
    return next;
  };
  const one = async (id: string, tracks: RecordedTrackRow[]): Promise<void> => {
    const step = `stream:${id}`;
    if (s.details.done?.[step]) return;
    const video = tracks.find((t) => t.kind === "video");
    const audio = tracks.find((t) => t.kind === "audio");
    const first = tracks[0];
    const base = streamBase(s, tracks);
    const out = path.join(work, "streams", `${fileSafe(first.peer_id)}-${fileSafe(first.stream_id)}.mp4`);
    const ref = (t?: RecordedTrackRow) => (t ? { file: t.file, startMs: Date.parse(t.first_media_at!) - origin } : undefined);
    let duration = 0;
    // The picture measured piece by piece while the session ran: the report then measures only the sound.
    let picture: PictureMeasure | null = null;
    if (!fs.existsSync(out)) {
      fs.mkdirSync(path.dirname(out), { recursive: true });
      try {
        const pieces = video ? { dir: piecesDir(work, video), chunkMs: s.details.chunkMs } : undefined;
        const r = await renderPeerStream(
          { video: ref(video), audio: ref(audio) },
          { outFile: out, pieces, signal: jc.signal, log: jc.log },
        );
        duration = r.durationSeconds;
        picture = r.picture ?? null;
      } catch (err) {
        if (!reportable(err, jc)) throw err;
        jc.log.error({ err, stream: id }, "stream recording failed");
        await inTurn(() => failStream(ctx, s, { id, tracks, failure: describeSfuFailure(err) }));
        return;
      }
    }
    const relative = streamPath({
      roomId: s.room.id,
      sessionStartedAt: s.session.created_at,
      sessionId: s.session.id,
      peerId: first.peer_id,
      streamId: first.stream_id,
    });
    const up = await uploadRecording(ctx, dest, relative, out, "video/mp4");
    const quality = await deliverQuality(ctx, {
      file: out,
      dest,
      relativePath: relative,
      forType: "stream",
      forPath: up.path,
      picture,
      expectVideo: tracks.some((t) => t.kind === "video"),
      expectAudio: tracks.some((t) => t.kind === "audio"),
      tracks: trackQuality(tracks),
      signal: jc.signal,
      log: jc.log,
    });
    duration ||= seconds(
      tracks[0].first_media_at!,
      tracks
        .map((t) => t.ended_at ?? "")
        .sort()
        .at(-1) || null,
    );
    await inTurn(() =>
      commitOutputs(ctx, {
        assets: [
          {
            jobId: s.rec.id,
            roomId: s.room.id,
            sessionId: s.session.id,
            type: "stream",
            path: up.path,
            objectKey: up.key,
            location: up.location,
            size: up.size,
            duration: Math.round(duration),
            metadata: { peer_id: first.peer_id, stream_id: first.stream_id, user_id: base.user_id, stream_type: base.stream_type },
          },
        ],
        event: ([asset]) => ({
          type: "stream.recording.success",
          room: { id: s.room.id, webhook: s.room.webhook },
          // The envelope's template_id (100ms lists it on every event; the data keys of stream events have none).
          templateId: s.room.template_id,
          data: {
            ...base,
            size: up.size,
            duration: Math.round(duration),
            recording_id: asset.id,
            recording_path: asset.path,
            recording_presigned_url: up.url,
            ...qualityWebhookKeys(quality),
          },
        }),
        quality: { owner: { jobId: s.rec.id, roomId: s.room.id, sessionId: s.session.id }, reports: [quality] },
        also: (trx) => saveDone(trx, s.rec, s.details, step, "done"),
      }),
    );
    fs.rmSync(out, { force: true });
  };
  // Two streams at a time: most of a stream's time at the close is one ffmpeg thread (its audio encoded,
  // its video's tail) and its upload, so two keep both cores busy.
  const queue = [...groups];
  const failures: unknown[] = [];
  await Promise.all(
    Array.from({ length: Math.min(STREAMS_AT_ONCE, queue.length) }, async () => {
      for (let next = queue.shift(); next && failures.length === 0; next = queue.shift())
        await one(...next).catch((err: unknown) => void failures.push(err));
    }),
  );
  if (failures.length) throw failures[0];
}
