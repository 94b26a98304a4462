// The string unions of the recording data model, in one place.

export const ASSET_TYPES = [
  "room-composite",
  "room-composite-legacy",
  "room-vod",
  "chat",
  "transcript",
  "summary",
  "track",
  "stream",
  "quality",
] as const;
export type AssetType = (typeof ASSET_TYPES)[number];

export const ASSET_STATUSES = ["completed", "failed"] as const;
export type AssetStatus = (typeof ASSET_STATUSES)[number];

export const RECORDING_STATUSES = ["starting", "running", "stopping", "post_processing", "completed", "failed"] as const;
export type RecordingStatus = (typeof RECORDING_STATUSES)[number];

/**
 * beam: browser composite; sfu: track/stream/composite recording of a session; hls: live stream; rtmp:
 * external stream (RTMP out); compose: a session composed again from its recorded tracks (POST /v2/sessions/:id/compose).
 */
export const RECORDING_KINDS = ["beam", "sfu", "hls", "rtmp", "compose"] as const;
export type RecordingKind = (typeof RECORDING_KINDS)[number];

/** What draws a built-in recording's picture: the live compositor (the default) or a browser showing the room page. */
export const RENDERERS = ["compositor", "browser"] as const;
export type Renderer = (typeof RENDERERS)[number];

/** The role the browser recorder ("Beam") joins with: hidden from other peers (roles starting `__` are), publishes nothing. */
export const RECORDER_ROLE = "__internal_recorder";
/** The recorder's display name, as 100ms shows its bot in the sessions API. */
export const RECORDER_NAME = "Beam";

/** A recorded track's file: being written, closed, closed with nothing in it, or written but unreadable by ffprobe. */
export const TRACK_STATES = ["recording", "finished", "empty", "unreadable"] as const;
export type TrackState = (typeof TRACK_STATES)[number];

/** A recorded track's own upload (track recording): none (not asked for), pending, done or failed. */
export const TRACK_UPLOADS = ["none", "pending", "done", "failed"] as const;
export type TrackUpload = (typeof TRACK_UPLOADS)[number];

export const TRACK_KINDS = ["audio", "video"] as const;
export type TrackKind = (typeof TRACK_KINDS)[number];

export const JOB_STATES = ["pending", "running", "done", "failed"] as const;
export type JobState = (typeof JOB_STATES)[number];

/** Whose side failed: the request (client), the user's bucket or webhook URL (destination), or tapedeck. */
export const FAILURE_ORIGINS = ["client", "destination", "internal"] as const;
export type FailureOrigin = (typeof FAILURE_ORIGINS)[number];

/** `error_type` of `beam.failure` and `hls.failure` (and a browser recording's `error.type`). */
export const BROWSER_ERROR_TYPES = ["UPLOAD_ERROR", "INTERNAL_ERROR", "MAX_RETRIES_REACHED", "BEAM_STOPPED"] as const;
export type BrowserErrorType = (typeof BROWSER_ERROR_TYPES)[number];

/** `error_type` of the SFU recording's `recording.failed`. */
export const SFU_ERROR_TYPES = ["INPUT_ERROR", "CLOUD_ACCESS_ERROR", "PROCESSING_CMD_ERROR", "API_ERROR"] as const;
export type SfuErrorType = (typeof SFU_ERROR_TYPES)[number];

export type RecordingErrorType = BrowserErrorType | SfuErrorType;

/** Why a recording (or one of its outputs) failed: made where it failed, carried as is to the webhook. */
export interface RecordingFailure<T extends RecordingErrorType = RecordingErrorType> {
  type: T;
  origin: FailureOrigin;
  message: string;
}
