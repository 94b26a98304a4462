import fs from "node:fs";
import path from "node:path";
import type { AppContext } from "../../app-context.ts";
import type { RecordedTrackRow } from "../../db/schema.ts";
import { streamPath } from "../../domain/storage-paths.ts";
import type { UploadConfig } from "../../domain/upload-config.ts";
import type { JobContext } from "../../jobs/job-queue.ts";
import { commitOutputs } from "../core/finish.ts";
import { describeSfuFailure } from "../core/recording-failure.ts";
import { uploadRecording } from "../core/upload.ts";
import { renderPeerStream } from "./per-peer.ts";
import type { LostTrack } from "./remote-tracks.ts";
import { lostWithNodeMessage } from "./upload-track.job.ts";
import type { RecordingFailure, SfuErrorType } from "../../domain/recording-types.ts";
import { type LoadedSession, reportable, saveDone, seconds } from "./session-recording.state.ts";
import { usableTracks } from "./sfu-recording.ts";

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

/** Renders, uploads and announces each peer stream not done yet; the destination is looked up by the caller at each attempt. */
export async function processPeerStreams(
  ctx: AppContext,
  s: LoadedSession,
  o: { dest: UploadConfig | null; work: string; jc: JobContext; lost?: LostTrack[] },
): Promise<void> {
  const { dest, work, jc } = o;
  const groups = new Map<string, RecordedTrackRow[]>();
  for (const t of usableTracks(s.tracks))
    groups.set(`${t.peer_id}/${t.stream_id}`, [...(groups.get(`${t.peer_id}/${t.stream_id}`) ?? []), t]);
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
  for (const [id, tracks] of groups) {
    const step = `stream:${id}`;
    if (s.details.done?.[step]) continue;
    const video = tracks.find((t) => t.kind === "video");
    const audio = tracks.find((t) => t.kind === "audio");
    const first = tracks[0];
    const base = streamBase(s, tracks);
    const out = path.join(work, "streams", `${fileSafe(first.peer_id)}-${fileSafe(first.stream_id)}.mp4`);
    const ref = (t?: RecordedTrackRow) => (t ? { file: t.file, startMs: Date.parse(t.first_media_at!) - origin } : undefined);
    let duration = 0;
    if (!fs.existsSync(out)) {
      fs.mkdirSync(path.dirname(out), { recursive: true });
      try {
        duration = (await renderPeerStream({ video: ref(video), audio: ref(audio) }, { outFile: out, signal: jc.signal, log: jc.log }))
          .durationSeconds;
      } catch (err) {
        if (!reportable(err, jc)) throw err;
        jc.log.error({ err, stream: id }, "stream recording failed");
        await failStream(ctx, s, { id, tracks, failure: describeSfuFailure(err) });
        continue;
      }
    }
    const up = await uploadRecording(
      ctx,
      dest,
      streamPath({
        roomId: s.room.id,
        sessionStartedAt: s.session.created_at,
        sessionId: s.session.id,
        peerId: first.peer_id,
        streamId: first.stream_id,
      }),
      out,
      "video/mp4",
    );
    duration ||= seconds(
      tracks[0].first_media_at!,
      tracks
        .map((t) => t.ended_at ?? "")
        .sort()
        .at(-1) || null,
    );
    await commitOutputs(ctx, {
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
        },
      }),
      also: (trx) => saveDone(trx, s.rec, s.details, step, "done"),
    });
    fs.rmSync(out, { force: true });
  }
}
