import fs from "node:fs";
import path from "node:path";
import type { AppContext } from "../../app-context.ts";
import type { RecordedTrackRow } from "../../db/schema.ts";
import type { RecordingFailure, SfuErrorType } from "../../domain/recording-types.ts";
import { chatPath, sfuCompositePath } from "../../domain/storage-paths.ts";
import type { UploadConfig } from "../../domain/upload-config.ts";
import { nowIso } from "../../ids.ts";
import { enqueueJob, type JobContext, type JobHandler, type JobPayloads } from "../../jobs/job-queue.ts";
import { probe } from "../../media/process.ts";
import { roomDestination } from "../../rooms/room.service.ts";
import { COMPOSITE_CANVAS, planComposite } from "./composite-layout.ts";
import { composeSession } from "./composite.ts";
import { deliverQuality, measuredQualityFile, qualityWebhookKeys } from "../core/quality.ts";
import { chatAsset, commitOutputs, storeFailure, uploadChatCsv } from "../core/finish.ts";
import { describeSfuFailure } from "../core/recording-failure.ts";
import { type LoadedSession, loadSession, reportable, saveDone, seconds } from "./session-recording.state.ts";
import { processPeerStreams } from "./session-recording.streams.ts";
import { compositeInput, releaseSpool, sessionWorkDir, usableTracks, type SfuRecordingDetails } from "./sfu-recording.ts";
import { lostWithNodeMessage, reportTrackFailure, type UploadTrackPayload } from "./upload-track.job.ts";
import { fetchRemoteTracks, type LostTrack } from "./remote-tracks.ts";
import { finishLiveFile } from "./live-composite.ts";
import { liveCompositeFiles, liveCompositeGap, readLiveComposite } from "./live-composite.state.ts";
import { uploadRecording, WEBHOOK_PRESIGN_SECONDS as PRESIGN_SECONDS } from "../core/upload.ts";
import { transitionRecording, updateRecording } from "../core/recording.repository.ts";
import type { EnqueueInput } from "../../webhooks/outbox.ts";
import { sfuRecording } from "./sfu-recorder.ts";

// The SFU recording's post-processing, one `process-session` job per closed session:
//   0. in a cluster, tracks recorded on another node are fetched from their uploads; those that never
//      reached storage before their node died are lost, and left out of every output (remote-tracks.ts);
//   1. tracks a crash left half-written are closed from what reached the disk (their uploads queued);
//   2. the chat CSV (messages to everyone or to roles), asset `chat`;
//   3. the composite (segments rendered during the session are reused), asset `room-composite-legacy`,
//      `recording.success` with the chat's path, or `recording.failed` with an error_type;
//   4. per-peer MP4s (stream recording): one per peer stream, `stream.recording.success|failure`
//      (session-recording.streams.ts).
// Each finished step is recorded in the recording's details (session-recording.state.ts), so a retry
// (the bucket was down, the process restarted) redoes only what is left and announces nothing twice.
// Rendered files stay in the session's work folder until uploaded. Media failures are retried twice,
// then reported; upload failures are retried for as long as the job queue retries (7 days), then
// reported as CLOUD_ACCESS_ERROR.
// Failures are classified by their class (recording-failure.ts), and say whose side failed (error_origin).
//
// While the session runs, `composite-progress` jobs (session-progress.job.ts) prepare what they can, so at
// the close little is left.

export type ProcessSessionPayload = JobPayloads["process-session"];

/** The upload of a track closed by the post-processing (as its recorder would have queued it). */
const uploadPayload = (s: LoadedSession, t: RecordedTrackRow, endedAt: string): UploadTrackPayload => ({
  file: t.file,
  recordedTrackId: t.id,
  recordingId: t.recording_id,
  roomId: t.room_id,
  sessionId: t.session_id,
  sessionStartedAt: s.session.created_at,
  peerId: t.peer_id,
  streamId: t.stream_id,
  trackId: t.track_id,
  trackType: t.kind,
  startedAt: t.started_at,
  endedAt,
});

export function processSessionHandler(ctx: AppContext): JobHandler<ProcessSessionPayload> {
  // The destination is looked up at each attempt: a fixed configuration works on the next retry.
  const upload = (dest: UploadConfig | null, relative: string, file: string, contentType: string) =>
    uploadRecording(ctx, dest, relative, file, contentType);

  /**
   * Tracks a crash left in `recording`: closed from their files; their own uploads queued. A lost one
   * (its node died with the file) is closed with its size unknown, and its upload reported failed.
   */
  const closeInterrupted = async (s: LoadedSession, lost: LostTrack[], log: JobContext["log"]) => {
    for (const t of s.tracks.filter((t) => t.state === "recording")) {
      const endedAt = s.peers.find((p) => p.id === t.peer_id)?.left_at ?? s.session.ended_at ?? nowIso();
      const gone = lost.find((l) => l.track === t);
      if (gone) {
        // The failure first: a retry after a crash between the two still closes the track, and
        // announces nothing twice (its upload is no longer pending).
        if (t.upload === "pending")
          await reportTrackFailure(ctx, uploadPayload(s, t, endedAt), {
            type: "API_ERROR",
            origin: "internal",
            message: lostWithNodeMessage(gone.node),
          });
        await ctx.db.updateTable("recorded_tracks").set({ state: "finished", ended_at: endedAt }).where("id", "=", t.id).execute();
        Object.assign(t, { state: "finished", ended_at: endedAt });
        continue;
      }
      const bytes = fs.existsSync(t.file) ? fs.statSync(t.file).size : 0;
      const empty = bytes === 0 || !t.first_media_at;
      await ctx.db.transaction().execute(async (trx) => {
        await trx
          .updateTable("recorded_tracks")
          .set({ state: empty ? "empty" : "finished", bytes, ended_at: endedAt, ...(empty ? { upload: "none" } : {}) })
          .where("id", "=", t.id)
          .execute();
        if (empty || t.upload !== "pending") return;
        await enqueueJob(trx, {
          type: "upload-track",
          key: `upload-track:${t.session_id}:${t.peer_id}:${t.track_id}`,
          payload: uploadPayload(s, t, endedAt),
        });
      });
      Object.assign(t, { state: empty ? "empty" : "finished", bytes, ended_at: endedAt });
      log.warn({ track_id: t.track_id, bytes }, "track left half-written by a crash: kept what reached the disk");
    }
  };

  /**
   * A track file ffprobe cannot read (a header and no frame: the writer never saw a keyframe) is left
   * out of the per-peer file and the composite, instead of failing them for every peer.
   */
  const dropUnreadable = async (s: LoadedSession, jc: JobContext) => {
    for (const t of usableTracks(s.tracks)) {
      const ok = await probe(t.file, { signal: jc.signal, log: jc.log })
        .then((p) => p.streams.some((st) => st.codec_type === t.kind))
        .catch((err: unknown) => {
          if (jc.signal.aborted) throw err;
          return false;
        });
      if (ok) continue;
      jc.log.warn(
        { track_id: t.track_id, peer_id: t.peer_id, kind: t.kind, bytes: t.bytes },
        "track file has no readable media; left out of the per-peer file and the composite",
      );
      await ctx.db.updateTable("recorded_tracks").set({ state: "unreadable" }).where("id", "=", t.id).execute();
      t.state = "unreadable";
    }
  };

  /** The chat CSV (when anyone wrote to everyone or to roles); returns its asset's path and a link. */
  const chat = async (s: LoadedSession, dest: UploadConfig | null, work: string) => {
    const relative = chatPath({ roomId: s.room.id, sessionStartedAt: s.session.created_at, epoch: s.details.epoch });
    if (s.details.done?.chat === "done") {
      const asset = await ctx.db
        .selectFrom("recording_assets")
        .selectAll()
        .where("job_id", "=", s.rec.id)
        .where("type", "=", "chat")
        .executeTakeFirst();
      return asset
        ? {
            path: asset.path,
            url: await ctx.storage
              .open(dest)
              .presignGet(asset.object_key, PRESIGN_SECONDS)
              .catch(() => ""),
          }
        : null;
    }
    const up = await uploadChatCsv(ctx, { sessionId: s.session.id, file: path.join(work, "chat.csv"), dest, relativePath: relative });
    if (!up) return null;
    await commitOutputs(ctx, {
      assets: [chatAsset({ jobId: s.rec.id, roomId: s.room.id, sessionId: s.session.id }, up)],
      also: (trx) => saveDone(trx, s.rec, s.details, "chat", "done"),
    });
    return { path: up.path, url: up.url };
  };

  /** The composite's `recording.failed`. */
  const compositeFailed = (s: LoadedSession, failure: RecordingFailure<SfuErrorType>): EnqueueInput => {
    const internal = failure.type !== "INPUT_ERROR" && failure.type !== "CLOUD_ACCESS_ERROR";
    return {
      type: sfuRecording.events.failure,
      room: { id: s.room.id, webhook: s.room.webhook },
      data: {
        ...sfuRecording.webhookBase(s.rec, s.room),
        error: internal ? "INTERNAL_ERROR" : failure.message,
        error_type: failure.type,
        error_message: failure.message,
        error_origin: failure.origin,
        session_started_at: s.session.created_at,
        session_stopped_at: s.session.ended_at ?? s.rec.stopped_at,
      },
    };
  };

  /** `recording.failed` and the failure; the recording's status is set when the other outputs are done. */
  const failComposite = async (s: LoadedSession, failure: RecordingFailure<SfuErrorType>) => {
    await commitOutputs(ctx, {
      assets: [],
      event: () => compositeFailed(s, failure),
      also: async (trx) => {
        await updateRecording(trx, s.rec.id, { failure: storeFailure(failure) });
        await saveDone(trx, s.rec, s.details, "composite", "failed");
      },
    });
  };

  const composite = async (
    s: LoadedSession,
    o: { dest: UploadConfig | null; work: string; chatFile: { path: string; url: string } | null; lost: LostTrack[]; jc: JobContext },
  ) => {
    const { dest, work, chatFile, lost, jc } = o;
    if (s.details.done?.composite) return;
    const out = path.join(work, "composite.mp4");
    let duration = 0;
    if (!fs.existsSync(out) && lost.length > 0 && usableTracks(s.tracks).length === 0) {
      // Not the client's INPUT_ERROR: there was media, and it died with its node.
      const nodes = [...new Set(lost.map((l) => l.node))];
      jc.log.error({ lost: lost.length, nodes }, "composite failed: every recorded track was lost with its node");
      const where = nodes.length === 1 ? `node ${nodes[0]}, which` : `nodes ${nodes.join(", ")}, which`;
      return failComposite(s, {
        type: "API_ERROR",
        origin: "internal",
        message: `every recorded track was on ${where} died before uploading them: nothing is left to compose`,
      });
    }
    const live = fs.existsSync(out) ? null : await useLiveComposite(s, out, jc);
    if (live) duration = live.durationSeconds;
    if (!fs.existsSync(out)) {
      try {
        const plan = planComposite(
          compositeInput({ startedAt: s.session.created_at, endedAt: s.session.ended_at }, s.peers, s.tracks),
          COMPOSITE_CANVAS,
          s.details.chunkMs,
        );
        const r = await composeSession(plan, { outFile: out, workDir: path.join(work, "segments"), signal: jc.signal, log: jc.log });
        jc.log.info({ segments: r.segments, rendered_after_close: r.rendered, duration: r.durationSeconds }, "composite written");
        duration = r.durationSeconds;
        s.details.segments = { total: r.segments, renderedAfterClose: r.rendered };
      } catch (err) {
        if (!reportable(err, jc)) throw err;
        jc.log.error({ err }, "composite failed");
        return failComposite(s, describeSfuFailure(err));
      }
    }
    const relative = sfuCompositePath({
      roomId: s.room.id,
      sessionStartedAt: s.session.created_at,
      sessionId: s.session.id,
      epoch: s.details.epoch,
    });
    const up = await upload(dest, relative, out, "video/mp4");
    const sessionDuration = seconds(s.session.created_at, s.session.ended_at);
    const quality = await deliverQuality(ctx, {
      file: out,
      dest,
      relativePath: relative,
      forType: "room-composite-legacy",
      forPath: up.path,
      // Drawn live, the file was measured while it was drawn.
      measured:
        s.details.composite?.from === "live" ? measuredQualityFile(liveCompositeFiles(ctx.config.dataDir, s.session.id).media) : undefined,
      expectVideo: true,
      expectAudio: usableTracks(s.tracks).some((t) => t.kind === "audio"),
      signal: jc.signal,
      log: jc.log,
    });
    await commitOutputs(ctx, {
      assets: [
        {
          jobId: s.rec.id,
          roomId: s.room.id,
          sessionId: s.session.id,
          type: "room-composite-legacy",
          path: up.path,
          objectKey: up.key,
          location: up.location,
          size: up.size,
          duration: Math.round(duration) || sessionDuration,
          metadata: { width: COMPOSITE_CANVAS.width, height: COMPOSITE_CANVAS.height },
        },
      ],
      event: ([asset]) => ({
        type: sfuRecording.events.success,
        room: { id: s.room.id, webhook: s.room.webhook },
        data: {
          ...sfuRecording.webhookBase(s.rec, s.room),
          location: asset.path,
          URL: up.url,
          duration: sessionDuration,
          recording_path: asset.path,
          recording_presigned_url: up.url,
          chat_recording_path: chatFile?.path ?? "",
          chat_recording_presigned_url: chatFile?.url ?? "",
          size: up.size,
          session_started_at: s.session.created_at,
          session_stopped_at: s.session.ended_at ?? s.rec.stopped_at,
          ...qualityWebhookKeys(quality),
        },
      }),
      quality: { owner: { jobId: s.rec.id, roomId: s.room.id, sessionId: s.session.id }, reports: [quality] },
      also: (trx) => saveDone(trx, s.rec, s.details, "composite", "done"),
    });
    fs.rmSync(out, { force: true });
  };

  /**
   * The composite drawn live (recorders/compositor/session-composite.ts), when it is the whole session:
   * cut to the session's end and made a plain MP4 (stream copy, seconds for hours). Null when it is not,
   * and the composite is rendered from the tracks; `details.composite` says which, and why.
   */
  const useLiveComposite = async (s: LoadedSession, out: string, jc: JobContext) => {
    const endedAt = s.session.ended_at ?? s.rec.stopped_at ?? nowIso();
    const state = readLiveComposite(ctx.config.dataDir, s.session.id);
    const usable = usableTracks(s.tracks);
    // Nobody published anything: the live file shows name tiles, but there is no recording to make (INPUT_ERROR, as 100ms).
    let why = usable.length === 0 ? "nothing was published" : liveCompositeGap(state, { startedAt: s.session.created_at, endedAt });
    if (!why && state) {
      try {
        const r = await finishLiveFile(liveCompositeFiles(ctx.config.dataDir, s.session.id).media, out, {
          seconds: (Date.parse(endedAt) - state.startedAt) / 1000,
          audio: usable.some((t) => t.kind === "audio"),
          signal: jc.signal,
          log: jc.log,
        });
        s.details.composite = { from: "live", startOffsetMs: state.startedAt - Date.parse(s.session.created_at) };
        jc.log.info({ duration: r.durationSeconds, start_offset_ms: s.details.composite.startOffsetMs }, "composite: the live one");
        return r;
      } catch (err) {
        if (jc.signal.aborted) throw err; // (finishLiveFile writes `out` only once it is whole)
        why = `the live composite could not be finished: ${(err as Error).message}`;
      }
    }
    if (state) jc.log.warn({ why }, "composite: rendered from the tracks instead of the live one");
    s.details.composite = { from: "tracks", ...(state ? { reason: why ?? "" } : {}) };
    return null;
  };

  return {
    async run(p, jc) {
      const s = await loadSession(ctx, p.recordingId);
      if (!s || s.rec.status === "completed" || s.rec.status === "failed") return;
      const t0 = Date.now();
      jc.log = jc.log.child({ recording_id: s.rec.id, session_id: s.session.id, room_id: s.room.id });
      const log = jc.log;
      const lost = await fetchRemoteTracks(ctx, s, jc);
      await closeInterrupted(s, lost, log);
      // From here on a lost track is in no output (its peer's tile shows no media; its stream fails).
      s.tracks = s.tracks.filter((t) => !lost.some((l) => l.track === t));
      await dropUnreadable(s, jc);
      const dest = await roomDestination(ctx, s.room);
      const work = sessionWorkDir(ctx.config.dataDir, s.session.id);
      const { settings } = s.details;
      // The composite first: it is what a viewer saw and mostly rendered already, so recording.success
      // comes seconds after the close; the per-peer MP4s (a VP8 track is transcoded whole) follow.
      const chatFile = await chat(s, dest, work);
      if (settings.composite) await composite(s, { dest, work, chatFile, lost, jc });
      if (settings.stream) await processPeerStreams(ctx, s, { dest, work, jc, lost });
      const failed = s.details.done?.composite === "failed";
      const end = await transitionRecording(ctx, { id: s.rec.id, kind: sfuRecording.kind, to: failed ? "failed" : "completed" });
      if (!end.applied) log.warn({ status: end.current?.status }, "the recording's status was changed meanwhile; left as it is");
      log.info(
        {
          wall_ms: Date.now() - t0,
          since_close_ms: Date.now() - Date.parse(s.session.ended_at ?? s.rec.stopped_at ?? nowIso()),
          outcome: s.details.done,
        },
        "SFU recording post-processing finished",
      );
      await releaseSpool(ctx, s.rec.id);
    },

    async onFailed(p, error) {
      const s = await loadSession(ctx, p.recordingId);
      if (!s) return;
      const failure = describeSfuFailure(error);
      // The composite's recording.failed (when it was not announced yet) only with the status change:
      // a recording already completed or failed announces nothing more.
      const announce = s.details.settings.composite && !s.details.done?.composite;
      const details: SfuRecordingDetails = announce ? { ...s.details, done: { ...s.details.done, composite: "failed" } } : s.details;
      const end = await transitionRecording(ctx, {
        id: s.rec.id,
        kind: sfuRecording.kind,
        to: "failed",
        set: { failure: storeFailure(failure), details: JSON.stringify(details) },
        event: announce ? compositeFailed(s, failure) : undefined,
      });
      if (!end.applied)
        ctx.log.warn(
          { recording_id: s.rec.id, status: end.current?.status ?? null, error_type: failure.type },
          "the SFU recording could not be failed (its status was changed meanwhile); left as it is",
        );
    },
  };
}
