import { createHmac } from "node:crypto";
import { z } from "zod";
import type { Db } from "../../db/database.ts";
import { activeSessionId } from "../../sessions/active-session.ts";
import type { RecordingRow, RoomRow, TemplateRow } from "../../db/schema.ts";
import { AppError } from "../../errors.ts";
import { nowIso } from "../../ids.ts";
import { templateParts } from "../../templates/template.service.ts";
import { isPlainObject } from "../../util/json.ts";
import { ownValue } from "../../util/own.ts";
import {
  ACTIVE_STATUSES,
  findActiveRecording,
  getRecording,
  insertRecordingUnlessActive,
  parseRecordingDetails,
  updateRecording,
} from "../core/recording.repository.ts";
import { RENDERERS } from "../../domain/recording-types.ts";
import {
  BEAM_LAYOUTS,
  beamDetailsShape,
  DEFAULT_AUTO_STOP_S,
  DEFAULT_MAX_DURATION_S,
  checkMeetingUrl,
  checkMeetingUrlTarget,
  meetingUrlSchema,
  recordedRoles,
  refuseUnstartable,
  roleName,
  type BeamDetails,
} from "../browser/beam.service.ts";
import type { OutboundPolicy } from "../../net/outbound-policy.ts";
import { DEFAULT_LAYERS, defaultVideoBitrate, layerProblems, type Layer } from "./ladder.ts";

// Live streams (HLS) on the API side: a `recordings` row of kind `hls`. The start request is checked
// and written as `starting`; the capture worker (recorders/browser/capture-worker.ts, running hls-recorder.ts) joins
// the room with a recorder page, encodes the ladder and serves it live; at the stop, the VOD zip and one
// MP4 per layer are made from the live segments (hls-finish.job.ts). Stop, pause and resume of the
// recording, and timed metadata, are requests the API writes and the worker and the playlist server read.

export const ACTIVE_HLS_STATUSES = ACTIVE_STATUSES;

/** What the worker needs, fixed at start (`recordings.details`); the beam's fields plus the ladder. */
export interface HlsDetails extends BeamDetails {
  /** The layers asked for (template or request), highest first; the worker may produce fewer. */
  requested_layers: Layer[];
  /** What the worker produces (set when it starts), and why layers were left out. */
  layers?: Layer[];
  ladder_warning?: string | null;
  hls_vod: boolean;
  single_file_per_layer: boolean;
  playlist_type: "event" | "live";
  /** Segments a `live` playlist shows. */
  playlist_segments: number;
  /** The live folder on the worker. */
  live_dir?: string;
}

const storedLayer = z
  .object({ width: z.number(), height: z.number(), videoBitrate: z.number().optional(), audioBitrate: z.number().optional() })
  .transform((l): Layer => withBitrates(l));

/** `recordings.details` of a live stream, checked when read (loose: fields written by newer code are kept). */
const hlsDetailsSchema = z.looseObject({
  ...beamDetailsShape,
  requested_layers: z.array(storedLayer),
  layers: z.array(storedLayer).optional(),
  ladder_warning: z.string().nullable().optional(),
  hls_vod: z.boolean(),
  single_file_per_layer: z.boolean(),
  playlist_type: z.enum(["event", "live"]),
  playlist_segments: z.number(),
  live_dir: z.string().optional(),
});

const layerInput = z.strictObject({
  width: z.number().int(),
  height: z.number().int(),
  videoBitrate: z.number().int().min(100).max(20_000).optional(),
  audioBitrate: z.number().int().min(32).max(320).optional(),
});

export const startLiveStreamSchema = z.strictObject({
  meeting_url: meetingUrlSchema.optional(),
  recording: z.strictObject({ hls_vod: z.boolean().optional(), single_file_per_layer: z.boolean().optional() }).optional(),
  destination: z.string().max(100).optional(),
  transcription: z.looseObject({ enabled: z.boolean().optional() }).optional(),
  /** tapedeck: the ladder for this stream (default: the destination's `layers`, else 1080p..240p). */
  layers: z.array(layerInput).min(1).max(8).optional(),
  /** tapedeck: the built-in page's layout and recorded roles, as for browser recordings. */
  layout: z.enum(BEAM_LAYOUTS, { error: `layout must be one of ${BEAM_LAYOUTS.join(", ")}` }).optional(),
  roles: z.array(roleName).min(1).max(50).optional(),
  /** tapedeck: who draws the built-in layout, as for browser recordings. */
  renderer: z.enum(RENDERERS, { error: `renderer must be one of ${RENDERERS.join(", ")}` }).optional(),
});
export type StartLiveStreamInput = z.infer<typeof startLiveStreamSchema>;

export const timedMetadataSchema = z.strictObject({
  payload: z.string().min(1, "payload must not be empty").max(100, "payload must be at most 100 characters"),
  duration: z.number().positive("duration must be over 0 seconds").max(3600, "duration must be at most 3600 seconds").optional(),
});

interface HlsDestination {
  layers?: Array<{ width: number; height: number; videoBitrate?: number; audioBitrate?: number }>;
  maxDuration?: number;
  autoStopTimeout?: number;
  playlistType?: "event" | "live";
  numPlaylistSegments?: number;
  role?: string;
  recording?: { hlsVod?: boolean; singleFilePerLayer?: boolean; layers?: Array<{ width: number; height: number }> };
}

/** The named `hlsDestinations` entry, or the only one, or none. */
function hlsDestination(template: TemplateRow, name: string | undefined): HlsDestination {
  const dests = templateParts(template).destinations;
  const hls = isPlainObject(dests) && isPlainObject(dests.hlsDestinations) ? (dests.hlsDestinations as Record<string, unknown>) : {};
  const names = Object.keys(hls);
  if (name === undefined) {
    if (names.length > 1)
      throw new AppError("invalid_body", "destination is required", {
        details: [`the template has several hlsDestinations (${names.join(", ")}): name one as destination`],
      });
    return names.length === 1 && isPlainObject(hls[names[0]]) ? (hls[names[0]] as HlsDestination) : {};
  }
  const found = ownValue(hls, name);
  if (!isPlainObject(found)) {
    throw new AppError("invalid_body", "destination not found", {
      details: [
        `destination ${JSON.stringify(name)} is not one of the template's destinations.hlsDestinations${names.length ? ` (${names.join(", ")})` : " (it has none)"}`,
      ],
    });
  }
  return found as HlsDestination;
}

const withBitrates = (l: { width: number; height: number; videoBitrate?: number; audioBitrate?: number }): Layer => ({
  width: l.width,
  height: l.height,
  videoBitrate: l.videoBitrate ?? defaultVideoBitrate(l.width, l.height),
  audioBitrate: l.audioBitrate ?? 128,
});

export async function activeLiveStream(db: Db, roomId: string): Promise<RecordingRow | undefined> {
  return findActiveRecording(db, { kind: "hls", roomId });
}

/** Validates a start request and writes the `starting` row; a worker picks it up. */
export async function createLiveStream(
  db: Db,
  room: RoomRow,
  template: TemplateRow,
  input: StartLiveStreamInput,
  startedBy: string,
  outbound?: OutboundPolicy,
): Promise<RecordingRow> {
  refuseUnstartable(room, input, { verb: "streaming", noun: "streams" });
  const dest = hlsDestination(template, input.destination);
  const source = input.layers ? "layers" : dest.layers ? "destination layers" : null;
  const layers = (input.layers ?? dest.layers ?? DEFAULT_LAYERS).map(withBitrates);
  const problems = layerProblems(layers, source ?? "layers");
  if (problems.length) throw new AppError("invalid_body", "Resolution not supported", { details: problems });
  if (input.meeting_url) checkMeetingUrl(input.meeting_url, room.id);
  if (input.meeting_url) await checkMeetingUrlTarget(input.meeting_url, outbound);
  const segments = dest.numPlaylistSegments ?? 5;
  const details: HlsDetails = {
    width: layers[0].width,
    height: layers[0].height,
    audio_only: false,
    layout: input.layout ?? "grid",
    roles: recordedRoles(template, input.roles, dest.role),
    custom_url: input.meeting_url ?? "",
    ...(input.renderer ? { renderer: input.renderer } : {}),
    max_duration_s: dest.maxDuration || DEFAULT_MAX_DURATION_S,
    auto_stop_s: dest.autoStopTimeout ?? DEFAULT_AUTO_STOP_S,
    requested_layers: layers,
    // Recording is on unless the request or the destination turns it off: keeping the stream is what tapedeck is for.
    hls_vod: input.recording?.hls_vod ?? dest.recording?.hlsVod ?? true,
    single_file_per_layer: input.recording?.single_file_per_layer ?? dest.recording?.singleFilePerLayer ?? true,
    playlist_type: dest.playlistType === "live" ? "live" : "event",
    playlist_segments: Math.min(150, Math.max(3, segments)),
    paused_spans: [],
  };
  return insertRecordingUnlessActive(
    db,
    {
      kind: "hls",
      roomId: room.id,
      sessionId: await activeSessionId(db, room.id),
      meetingUrl: input.meeting_url,
      destination: input.destination,
      startedBy,
      details,
    },
    (existing) =>
      new AppError("conflict", "stream already started", {
        details: [`live stream ${existing.id} of room ${room.id} is ${existing.status}; stop it first`],
      }),
  );
}

/** The live stream's details, checked (RecordingDetailsError names the field that is not what it should be). */
export const hlsDetails = (row: RecordingRow): HlsDetails => parseRecordingDetails(row, hlsDetailsSchema);

export async function getLiveStream(db: Db, id: string): Promise<RecordingRow> {
  return getRecording(db, id, "hls", "live stream");
}

/** Pauses or resumes the stream's recording (the live stream goes on). */
export async function setRecordingPaused(db: Db, id: string, paused: boolean): Promise<RecordingRow> {
  const row = await getLiveStream(db, id);
  if (!["starting", "running"].includes(row.status))
    throw new AppError("conflict", `live stream is ${row.status}`, {
      details: [`live stream ${id} is ${row.status}; only a starting or running stream's recording can be paused or resumed`],
    });
  const d = hlsDetails(row);
  if (!d.hls_vod && !d.single_file_per_layer)
    throw new AppError("conflict", "live stream is not recorded", {
      details: [`live stream ${id} was started with recording.hls_vod and recording.single_file_per_layer both false`],
    });
  await updateRecording(db, id, { paused: paused ? 1 : 0, updated_at: nowIso() });
  return { ...row, paused: paused ? 1 : 0 };
}

/**
 * The secret part of a stream's playback URL: HMAC of the stream id with the app secret, so a URL can be
 * handed to viewers without any API credential, and cannot be guessed from the (time-ordered) stream id.
 */
export function playbackToken(appSecret: string, streamId: string): string {
  return createHmac("sha256", appSecret).update(`hls-playback:${streamId}`).digest("base64url").slice(0, 22);
}

export const playbackBase = (publicUrl: string, appSecret: string, streamId: string): string =>
  `${publicUrl}/hls/${streamId}/${playbackToken(appSecret, streamId)}`;
