import { z } from "zod";
import type { Db } from "../../db/database.ts";
import type { RecordingRow, RoomRow, TemplateRow } from "../../db/schema.ts";
import { AppError } from "../../errors.ts";
import type { OutboundPolicy } from "../../net/outbound-policy.ts";
import { DEFAULT_OUTBOUND_POLICY } from "../../net/outbound-policy.ts";
import { templateParts } from "../../templates/template.service.ts";
import { isPlainObject } from "../../util/json.ts";
import { ownValue } from "../../util/own.ts";
import {
  BEAM_LAYOUTS,
  beamDetailsShape,
  checkMeetingUrl,
  checkMeetingUrlTarget,
  DEFAULT_AUTO_STOP_S,
  DEFAULT_MAX_DURATION_S,
  meetingUrlSchema,
  recordedRoles,
  refuseUnstartable,
  resolutionProblems,
  roleName,
  type BeamDetails,
} from "../browser/beam.service.ts";
import { findActiveRecording, getRecording, insertRecordingUnlessActive, parseRecordingDetails } from "../core/recording.repository.ts";
import { checkRtmpTargets, checkRtmpUrls, MAX_RTMP_URL_LENGTH } from "./rtmp-url.ts";

// External streams (RTMP out) on the API side: a `recordings` row of kind `rtmp`. The start request is
// checked (the URLs' form and, against the outbound policy, their hosts; the resolution as for browser
// recordings) and written `starting`; the capture worker (browser/capture-worker.ts, running
// rtmp-recorder.ts) joins the room with the recorder page and streams to every URL. The template's
// `destinations.rtmpDestinations` give the defaults (rtmpUrls, width, height, maxDuration,
// recordingEnabled, autoStopTimeout) and, with `autoStart`, start a stream on the first visible join.

/** What the worker needs, fixed at start (`recordings.details`): a browser recording's, plus the URLs. */
export interface RtmpDetails extends BeamDetails {
  rtmp_urls: string[];
  /** Also record the stream as a room-composite MP4 (as a browser recording would). */
  recording: boolean;
  /** Destinations given up while it ran (index into rtmp_urls), in order. */
  rtmp_failures?: Array<{ index: number; message: string; at: string }>;
  /** Every destination gave up: the stream was stopped for it. */
  all_failed?: boolean;
}

const rtmpDetailsSchema = z.looseObject({
  ...beamDetailsShape,
  rtmp_urls: z.array(z.string()),
  recording: z.boolean(),
  rtmp_failures: z.array(z.object({ index: z.number(), message: z.string(), at: z.string() })).optional(),
  all_failed: z.boolean().optional(),
});

/** The external stream's details, checked (RecordingDetailsError names the field that is not what it should be). */
export const rtmpDetails = (row: RecordingRow): RtmpDetails => parseRecordingDetails(row, rtmpDetailsSchema);

export const startExternalStreamSchema = z.strictObject({
  meeting_url: meetingUrlSchema.optional(),
  rtmp_urls: z
    .array(
      z
        .string({ error: "each of rtmp_urls must be a string" })
        .max(MAX_RTMP_URL_LENGTH, `an RTMP URL is at most ${MAX_RTMP_URL_LENGTH} characters`),
      {
        error: "rtmp_urls must be an array of rtmp:// or rtmps:// URLs",
      },
    )
    .max(10, "rtmp_urls: at most 3 URLs are supported")
    .optional(),
  recording: z.boolean().optional(),
  resolution: z.strictObject({ width: z.number().int(), height: z.number().int() }).optional(),
  destination: z.string().max(100).optional(),
  /** tapedeck: the built-in page's layout and shown roles, as for browser recordings. */
  layout: z.enum(BEAM_LAYOUTS, { error: `layout must be one of ${BEAM_LAYOUTS.join(", ")}` }).optional(),
  roles: z.array(roleName).min(1).max(50).optional(),
});
export type StartExternalStreamInput = z.infer<typeof startExternalStreamSchema>;

interface RtmpDestination {
  width?: number;
  height?: number;
  maxDuration?: number;
  rtmpUrls?: string[];
  recordingEnabled?: boolean;
  autoStopTimeout?: number;
  autoStart?: boolean;
}

/** The template's rtmpDestinations, by name. */
function rtmpDestinations(template: TemplateRow): Record<string, unknown> {
  const dests = templateParts(template).destinations;
  return isPlainObject(dests) && isPlainObject(dests.rtmpDestinations) ? (dests.rtmpDestinations as Record<string, unknown>) : {};
}

/** The named rtmpDestinations entry, or the only one, or none (several and no name: 400, as 100ms says). */
function rtmpDestination(template: TemplateRow, name: string | undefined): RtmpDestination {
  const all = rtmpDestinations(template);
  const names = Object.keys(all);
  if (name === undefined) {
    if (names.length > 1)
      throw new AppError("invalid_body", "destination is required", {
        details: [`the template has several rtmpDestinations (${names.join(", ")}): name one as destination`],
      });
    return names.length === 1 && isPlainObject(all[names[0]]) ? (all[names[0]] as RtmpDestination) : {};
  }
  const found = ownValue(all, name);
  if (!isPlainObject(found))
    throw new AppError("invalid_body", "destination not found", {
      details: [
        `destination ${JSON.stringify(name)} is not one of the template's destinations.rtmpDestinations${names.length ? ` (${names.join(", ")})` : " (it has none)"}`,
      ],
    });
  return found as RtmpDestination;
}

export async function activeExternalStream(db: Db, roomId: string): Promise<RecordingRow | undefined> {
  return findActiveRecording(db, { kind: "rtmp", roomId });
}

/** Validates a start request and writes the `starting` row; a worker picks it up. */
export async function createExternalStream(
  db: Db,
  room: RoomRow,
  template: TemplateRow,
  input: StartExternalStreamInput,
  startedBy: string,
  outbound: OutboundPolicy = DEFAULT_OUTBOUND_POLICY,
): Promise<RecordingRow> {
  refuseUnstartable(room, {}, { verb: "streaming", noun: "streams" });
  const dest = rtmpDestination(template, input.destination);
  const urls = input.rtmp_urls ?? dest.rtmpUrls ?? [];
  if (!input.rtmp_urls && !urls.length)
    throw new AppError("invalid_body", "rtmp_urls is required", {
      details: ["rtmp_urls: give 1 to 3 rtmp:// or rtmps:// URLs (or set rtmpUrls on the template's rtmpDestinations)"],
    });
  checkRtmpUrls(urls, input.rtmp_urls ? "rtmp_urls" : "the destination's rtmpUrls");
  const width = input.resolution?.width ?? dest.width ?? 1280;
  const height = input.resolution?.height ?? dest.height ?? 720;
  const problems = resolutionProblems(width, height);
  if (problems.length) throw new AppError("invalid_body", "Resolution not supported", { details: problems });
  if (input.meeting_url) checkMeetingUrl(input.meeting_url, room.id);
  if (input.meeting_url) await checkMeetingUrlTarget(input.meeting_url, outbound);
  await checkRtmpTargets(urls, outbound);
  const details: RtmpDetails = {
    width,
    height,
    audio_only: false,
    layout: input.layout ?? "grid",
    roles: recordedRoles(template, input.roles, undefined),
    custom_url: input.meeting_url ?? "",
    max_duration_s: dest.maxDuration || DEFAULT_MAX_DURATION_S,
    auto_stop_s: dest.autoStopTimeout ?? DEFAULT_AUTO_STOP_S,
    rtmp_urls: urls,
    recording: input.recording ?? dest.recordingEnabled ?? false,
  };
  return insertRecordingUnlessActive(
    db,
    { kind: "rtmp", roomId: room.id, meetingUrl: input.meeting_url, destination: input.destination, startedBy, details },
    (existing) =>
      new AppError("conflict", "external stream already started", {
        details: [`external stream ${existing.id} of room ${room.id} is ${existing.status}; stop it first`],
      }),
  );
}

export async function getExternalStream(db: Db, id: string): Promise<RecordingRow> {
  return getRecording(db, id, "rtmp", "external stream");
}

/**
 * The template's rtmpDestinations entry with `autoStart` and rtmpUrls: a visible peer joining starts
 * its external stream when the room has none. Returns whether one was created.
 */
export async function autoStartExternalStream(db: Db, room: RoomRow, template: TemplateRow, outbound?: OutboundPolicy): Promise<boolean> {
  const entry = Object.entries(rtmpDestinations(template)).find(
    ([, d]) => isPlainObject(d) && d.autoStart === true && Array.isArray(d.rtmpUrls) && d.rtmpUrls.length > 0,
  );
  if (!entry || !room.enabled || (await activeExternalStream(db, room.id))) return false;
  try {
    await createExternalStream(db, room, template, { destination: entry[0] }, "", outbound);
    return true;
  } catch (err) {
    if (err instanceof AppError && err.reason === "conflict") return false;
    throw err;
  }
}
