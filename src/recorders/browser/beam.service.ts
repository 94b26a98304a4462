import { z } from "zod";
import { CAPTURE_STEPS, type CaptureProgress } from "./capture-progress.ts";
import type { Db } from "../../db/database.ts";
import { activeSessionId } from "../../sessions/active-session.ts";
import type { RecordingRow, RoomRow, TemplateRow } from "../../db/schema.ts";
import { BROWSER_ERROR_TYPES, RENDERERS, type Renderer } from "../../domain/recording-types.ts";
import { AppError, notFound } from "../../errors.ts";
import { nowIso } from "../../ids.ts";
import { DEFAULT_OUTBOUND_POLICY, type OutboundPolicy } from "../../net/outbound-policy.ts";
import { templateParts } from "../../templates/template.service.ts";
import { isPlainObject } from "../../util/json.ts";
import { hasOwnKey, ownValue } from "../../util/own.ts";
import {
  ACTIVE_STATUSES,
  findActiveRecording,
  insertRecordingUnlessActive,
  parseRecordingDetails,
  recordingFailure,
  requestRecordingStop,
  updateRecording,
} from "../core/recording.repository.ts";

// Browser recordings ("beam") on the API side: what a start request may ask for, the checks made before
// a `recordings` row of kind `beam` is written (status `starting`), and the stop/pause/resume requests,
// which only set columns the recording's worker watches (capture-worker.ts, running beam-recorder.ts, does the recording).

/** Recordings of these statuses hold the room: a second start is refused until they stop. */
export const ACTIVE_BEAM_STATUSES = ACTIVE_STATUSES;
export const BEAM_LAYOUTS = ["grid", "active-speaker"] as const;
/** Who draws a recording: a custom page (meeting_url) always a browser, else the caller's choice, else the setting. */
export function rendererFor(d: Pick<BeamDetails, "custom_url" | "renderer">, setting: Renderer): Renderer {
  return d.custom_url ? "browser" : (d.renderer ?? setting);
}
export type BeamLayout = (typeof BEAM_LAYOUTS)[number];
/** 100ms: maxDuration defaults to 4 h. */
export const DEFAULT_MAX_DURATION_S = 4 * 3600;
/** 100ms: "last peer left" stops after 5 min with only the bot left, unless the template says otherwise. */
export const DEFAULT_AUTO_STOP_S = 300;

/** What the worker needs, fixed at start (`recordings.details`). */
export interface BeamDetails {
  width: number;
  height: number;
  audio_only: boolean;
  layout: BeamLayout;
  /** Roles shown and heard; null = every role. */
  roles: string[] | null;
  /** The caller's page, or "" for the built-in recorder page. */
  custom_url: string;
  /** The caller's choice of renderer for the built-in layouts (absent: TAPEDECK_RECORDING_RENDERER). */
  renderer?: Renderer;
  max_duration_s: number;
  auto_stop_s: number;
  /** Filled by the worker. */
  epoch?: number;
  session_started_at?: string;
  peer_id?: string;
  spool?: string;
  /** Storage path relative to the prefix, and the full object key. */
  relative_path?: string;
  key?: string;
  /** Set when the live upload completed (bytes); absent = upload the spool file. */
  uploaded_size?: number;
  /** A live output's encoder lag behind real time (ms), sampled by the capture (core/encoder-lag.ts). */
  encoder_lag_ms?: { median: number; max: number };
  /** Stretches of the file the capture knows have no media (seconds from the file's start, as captured), with why. */
  gaps?: Array<{ start: number; end: number; reason: string }>;
  /**
   * Wall-clock spans (ms) when the recording was paused (core/known-gaps.ts notePause), saved as they
   * happen: the file leaves them out, and its quality report lists each where it cut the file.
   */
  paused_spans?: Array<{ from: number; to: number | null }>;
  /** While starting: the step the worker has reached (capture-progress.ts; shown as the API's `progress`). */
  progress?: CaptureProgress;
}

/**
 * `recordings.details` of a browser recording, checked when read. Loose: a live stream's details (which
 * extend these) keep their own fields when read as a browser recording's and written back.
 */
export const beamDetailsShape = {
  width: z.number(),
  height: z.number(),
  audio_only: z.boolean(),
  layout: z.enum(BEAM_LAYOUTS),
  roles: z.array(z.string()).nullable(),
  custom_url: z.string(),
  renderer: z.enum(RENDERERS).optional(),
  max_duration_s: z.number(),
  auto_stop_s: z.number(),
  epoch: z.number().optional(),
  session_started_at: z.string().optional(),
  peer_id: z.string().optional(),
  spool: z.string().optional(),
  relative_path: z.string().optional(),
  key: z.string().optional(),
  uploaded_size: z.number().optional(),
  // Unreadable (written by other code) is as absent: the report is made without them.
  encoder_lag_ms: z.object({ median: z.number(), max: z.number() }).optional().catch(undefined),
  gaps: z
    .array(z.object({ start: z.number(), end: z.number(), reason: z.string() }))
    .optional()
    .catch(undefined),
  paused_spans: z.array(z.object({ from: z.number(), to: z.number().nullable() })).optional(),
  progress: z
    .object({
      step: z.enum(CAPTURE_STEPS),
      since: z.string(),
      steps: z.array(z.object({ step: z.enum(CAPTURE_STEPS), since: z.string() })),
    })
    .optional()
    .catch(undefined),
};
const beamDetailsSchema = z.looseObject(beamDetailsShape);

export const roleName = z
  .string()
  .regex(/^[a-zA-Z0-9.:_-]+$/, "must match ^[a-zA-Z0-9.:_-]+$")
  .max(100);

export const meetingUrlSchema = z
  .string()
  .max(2048, "meeting_url must be at most 2048 characters")
  .refine((s) => {
    try {
      return ["http:", "https:"].includes(new URL(s).protocol);
    } catch {
      return false;
    }
  }, "meeting_url must be an http(s) URL");

export const startBeamSchema = z.strictObject({
  meeting_url: meetingUrlSchema.optional(),
  resolution: z.strictObject({ width: z.number().int(), height: z.number().int() }).optional(),
  destination: z.string().max(100).optional(),
  audio_only: z.boolean().optional(),
  transcription: z.looseObject({ enabled: z.boolean().optional() }).optional(),
  /** tapedeck: the built-in page's layout (100ms puts `ui_mode=activespeaker` in the meeting URL). */
  layout: z.enum(BEAM_LAYOUTS, { error: `layout must be one of ${BEAM_LAYOUTS.join(", ")}` }).optional(),
  /** tapedeck: record only these roles (default: the roles the recording's role subscribes to, else all). */
  roles: z.array(roleName).min(1).max(50).optional(),
  /** tapedeck: who draws the built-in layout: the live compositor, or a browser showing the room page (meeting_url: always a browser). */
  renderer: z.enum(RENDERERS, { error: `renderer must be one of ${RENDERERS.join(", ")}` }).optional(),
});
export type StartBeamInput = z.infer<typeof startBeamSchema>;

/**
 * The resolution bounds of 100ms's beam: width 500–1920, height 480–1920, and when one side is over
 * 1080 the other is at most 1080 (1920x1080 landscape, 1080x1920 portrait). Sides must be even (H.264 4:2:0).
 */
export function resolutionProblems(width: number, height: number): string[] {
  const problems: string[] = [];
  if (width < 500 || width > 1920) problems.push(`width ${width} is outside 500..1920`);
  if (height < 480 || height > 1920) problems.push(`height ${height} is outside 480..1920`);
  if (width > 1080 && height > 1080)
    problems.push(
      `${width}x${height}: when one side is over 1080 the other must be at most 1080 (1920x1080 landscape, 1080x1920 portrait)`,
    );
  if (width % 2 || height % 2) problems.push(`${width}x${height}: both sides must be even`);
  return problems;
}

interface BrowserConfig {
  role?: string;
  width?: number;
  height?: number;
  maxDuration?: number;
  autoStopTimeout?: number;
  autoStart?: boolean;
}

/** The template's browser-composite settings: `recordings[0]` and its `compositeRecording.browserComposite`. */
export function templateBrowserConfig(template: TemplateRow): BrowserConfig & { enabled: boolean } {
  const rec = templateParts(template).recordings[0];
  if (!isPlainObject(rec)) return { enabled: false };
  const composite =
    isPlainObject(rec.compositeRecording) && isPlainObject(rec.compositeRecording.browserComposite)
      ? rec.compositeRecording.browserComposite
      : {};
  const num = (v: unknown) => (typeof v === "number" ? v : undefined);
  return {
    enabled: composite.enabled === true || composite.autoStart === true,
    autoStart: composite.autoStart === true,
    role: typeof rec.role === "string" ? rec.role : undefined,
    width: num(composite.width),
    height: num(composite.height),
    maxDuration: num(rec.maxDuration),
    autoStopTimeout: num(composite.autoStopTimeout),
  };
}

function namedDestination(template: TemplateRow, name: string): BrowserConfig {
  const dests = templateParts(template).destinations;
  const browser = isPlainObject(dests) && isPlainObject(dests.browserRecordings) ? dests.browserRecordings : {};
  const found = ownValue(browser, name);
  if (!isPlainObject(found)) {
    const names = Object.keys(browser);
    throw new AppError("invalid_body", "destination not found", {
      details: [
        `destination ${JSON.stringify(name)} is not one of the template's destinations.browserRecordings${names.length ? ` (${names.join(", ")})` : " (it has none)"}`,
      ],
    });
  }
  return found as BrowserConfig;
}

/** The roles a recording shows: the caller's list, else what the recording's role subscribes to, else all. */
export function recordedRoles(template: TemplateRow, explicit: string[] | undefined, role: string | undefined): string[] | null {
  const roles = templateParts(template).roles;
  if (explicit) {
    const unknown = explicit.filter((r) => !hasOwnKey(roles, r));
    if (unknown.length)
      throw new AppError("invalid_body", "unknown role", {
        details: unknown.map((r) => `roles: ${r} is not a role of the room's template (${Object.keys(roles).join(", ")})`),
      });
    return [...new Set(explicit)];
  }
  const own = role ? ownValue(roles, role) : undefined;
  const subs = isPlainObject(own) ? (own.subscribeParams as { subscribeToRoles?: string[] } | undefined)?.subscribeToRoles : undefined;
  return Array.isArray(subs) ? subs : null;
}

/** 400 when meeting_url is, or resolves now to, an address the outbound policy refuses (the worker checks again). */
export async function checkMeetingUrlTarget(url: string, outbound: OutboundPolicy = DEFAULT_OUTBOUND_POLICY): Promise<void> {
  await outbound.checkUrl(url, "meeting_url");
}

/** A meeting URL of this tapedeck's own room page must be the room being recorded. */
export function checkMeetingUrl(url: string, roomId: string): void {
  const m = /^\/room\/([0-9a-f]{24})\/?$/.exec(new URL(url).pathname);
  if (m && m[1] !== roomId)
    throw new AppError("invalid_body", "meeting_url invalid", {
      details: [`meeting_url is the room page of room ${m[1]}, not of ${roomId}`],
    });
}

export async function activeBeam(db: Db, roomId: string): Promise<RecordingRow | undefined> {
  return findActiveRecording(db, { kind: "beam", roomId });
}

/**
 * What refuses any browser-captured start (a recording or a live stream): a disabled room, and a
 * transcription request (tapedeck does not transcribe). `words` names it in the messages.
 */
export function refuseUnstartable(
  room: RoomRow,
  input: { transcription?: { enabled?: boolean } },
  words: { verb: string; noun: string },
): void {
  if (!room.enabled)
    throw new AppError("invalid_body", "room is disabled", { details: [`enable room ${room.id} before ${words.verb} it`] });
  if (input.transcription?.enabled)
    throw new AppError("invalid_body", "transcription is not supported", {
      details: [`tapedeck does not transcribe ${words.noun}; leave transcription out`],
    });
}

/** Validates a start request and writes the `starting` row; the worker picks it up. */
export async function createBeam(
  db: Db,
  room: RoomRow,
  template: TemplateRow,
  input: StartBeamInput,
  startedBy: string,
  outbound?: OutboundPolicy,
): Promise<RecordingRow> {
  refuseUnstartable(room, input, { verb: "recording", noun: "recordings" });
  const cfg = templateBrowserConfig(template);
  const dest = input.destination ? namedDestination(template, input.destination) : {};
  const width = input.resolution?.width ?? dest.width ?? cfg.width ?? 1280;
  const height = input.resolution?.height ?? dest.height ?? cfg.height ?? 720;
  const problems = resolutionProblems(width, height);
  if (problems.length) throw new AppError("invalid_body", "Resolution not supported", { details: problems });
  if (input.meeting_url) checkMeetingUrl(input.meeting_url, room.id);
  if (input.meeting_url) await checkMeetingUrlTarget(input.meeting_url, outbound);
  const details: BeamDetails = {
    width,
    height,
    audio_only: input.audio_only ?? false,
    layout: input.layout ?? "grid",
    roles: recordedRoles(template, input.roles, dest.role ?? cfg.role),
    custom_url: input.meeting_url ?? "",
    ...(input.renderer ? { renderer: input.renderer } : {}),
    max_duration_s: dest.maxDuration || cfg.maxDuration || DEFAULT_MAX_DURATION_S,
    auto_stop_s: dest.autoStopTimeout ?? cfg.autoStopTimeout ?? DEFAULT_AUTO_STOP_S,
  };
  return insertRecordingUnlessActive(
    db,
    {
      kind: "beam",
      roomId: room.id,
      sessionId: await activeSessionId(db, room.id),
      meetingUrl: input.meeting_url,
      destination: input.destination,
      startedBy,
      details,
    },
    (existing) =>
      new AppError("conflict", "beam already started", {
        details: [`recording ${existing.id} of room ${room.id} is ${existing.status}; stop it first`],
      }),
  );
}

/** What the API calls each kind in a 404. */
const RESOURCE_NAME = { beam: "recording", hls: "live stream", rtmp: "external stream" } as const;

/** Asks a recording (or live stream) to stop (idempotent: one already stopping or done is returned as it is). */
export async function requestStop(
  db: Db,
  id: string,
  reason: string,
  stoppedBy = "",
  kind: keyof typeof RESOURCE_NAME = "beam",
): Promise<RecordingRow> {
  const row = await requestRecordingStop(db, { id, kind, reason, stoppedBy });
  if (!row) throw notFound(RESOURCE_NAME[kind], id);
  return row;
}

export async function setPaused(db: Db, roomId: string, paused: boolean): Promise<RecordingRow> {
  const row = await findActiveRecording(db, { kind: "beam", roomId, statuses: ["starting", "running"] });
  if (!row)
    throw new AppError("not_found", "no active beam found for the passed in identifiers", {
      details: [`room ${roomId} has no recording that is starting or running`],
    });
  await updateRecording(db, row.id, { paused: paused ? 1 : 0, updated_at: nowIso() });
  return { ...row, paused: paused ? 1 : 0 };
}

/** The browser recording's details, checked (RecordingDetailsError names the field that is not what it should be). */
export const beamDetails = (row: RecordingRow): BeamDetails => parseRecordingDetails(row, beamDetailsSchema);

/** The failure a recording shows in its object (`error`) and webhook. */
export interface BeamFailure {
  type: "INTERNAL_ERROR" | "MAX_RETRIES_REACHED" | "UPLOAD_ERROR" | "BEAM_STOPPED";
  message: string;
}

/** The recording's failure, when it has one of a browser recording's types. */
export function failureOf(row: RecordingRow): BeamFailure | null {
  const f = recordingFailure(row);
  return f && (BROWSER_ERROR_TYPES as readonly string[]).includes(f.type) ? (f as BeamFailure) : null;
}

/**
 * The template's `browserComposite.autoStart`: a visible peer joining starts a recording when the room
 * has none. Returns whether one was created.
 */
export async function autoStartBeam(db: Db, room: RoomRow, template: TemplateRow): Promise<boolean> {
  if (!templateBrowserConfig(template).autoStart || !room.enabled || (await activeBeam(db, room.id))) return false;
  try {
    await createBeam(db, room, template, {}, "");
    return true;
  } catch (err) {
    if (err instanceof AppError && err.reason === "conflict") return false;
    throw err;
  }
}
