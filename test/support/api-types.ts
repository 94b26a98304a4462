// What the /v2 API answers, as tests read it: written from the README's API reference and from what the
// routes render (rooms/room.service.ts renderRoom, templates/template.service.ts renderTemplate,
// sessions/session.routes.ts renderSession, assets/asset.repository.ts renderAsset,
// recorders/browser/recording.routes.ts renderRecording, recorders/hls/live-stream.routes.ts renderLiveStream,
// webhooks/webhook-log.ts). These are the client's view, kept apart from the server's internals on
// purpose: a change to what the API answers should show up here as a test change. Only plain
// types from src/domain are shared.

import type {
  AssetStatus,
  AssetType,
  BrowserErrorType,
  FailureOrigin,
  RecordingStatus,
  SfuErrorType,
} from "../../src/domain/recording-types.ts";
import type { UploadType } from "../../src/domain/upload-config.ts";

/** Any JSON value, for what the API echoes back as the client sent it. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

// ---- errors and lists ----

/** Every error body: 100ms's `{code, message, details}` plus tapedeck's `reason` and `origin`. */
export interface ApiError {
  code: number;
  message: string;
  details: string[];
  /** Machine code, e.g. `invalid_body`, `not_found`, `destination_error`. */
  reason: string;
  origin: FailureOrigin;
}

/** A list page: `last` is the cursor for `start`, "" on the final page. */
export interface ListPage<T> {
  limit: number;
  data: T[];
  last: string;
}

// ---- storage destinations ----

/** A destination as the API shows it: the access key, never the secret. */
export interface UploadInfo {
  type: UploadType;
  location: string;
  prefix: string;
  options: { region?: string; endpoint?: string; force_path_style?: boolean };
  credentials?: { key: string };
}

/** `POST /v2/storage/validate`. */
export interface StorageValidation {
  valid: boolean;
  message: string;
  checks: Array<{ step: "upload" | "download" | "delete"; ok: boolean; message: string }>;
}

// ---- rooms ----

export interface Room {
  id: string;
  name: string;
  enabled: boolean;
  description: string;
  customer_id: string;
  /** Deprecated copy of customer_id (100ms's samples). */
  customer: string;
  app_id: string;
  /** true when the room follows its template's recording settings (then `recording_info` is `{enabled}` from it). */
  recording_source_template: boolean;
  /** Paired with recording_source_template (100ms's samples). */
  enabled_source_template: boolean;
  /** Always an object: the room's own, or `{enabled}` filled from its template. */
  recording_info: { enabled: boolean; upload_info?: UploadInfo };
  template_id: string;
  /** The template's name. */
  template: string | null;
  region: string;
  large_room: boolean;
  /** Left out when never set. */
  size?: number;
  /** Left out when never set. */
  max_duration_seconds?: number;
  /** Left out when never set. */
  webhook?: { url: string; headers: Record<string, string> };
  /** Left out when empty. */
  polls?: JsonValue[];
  key: string;
  created_at: string;
  updated_at: string;
}

/** `POST /v2/rooms/:id/tokens`. */
export interface RoomToken {
  token: string;
  room_id: string;
  role: string;
  user_id: string | null;
  expires_at: string;
  join_url: string;
}

// ---- templates (the 100ms policy shape; unknown keys are echoed as given) ----

export interface VideoParams {
  bitRate?: number;
  codec?: string;
  frameRate?: number;
  width?: number;
  height?: number;
}

export interface TemplateRole {
  name?: string;
  publishParams?: {
    allowed?: Array<"audio" | "video" | "screen">;
    audio?: { bitRate?: number; codec?: string };
    video?: VideoParams;
    screen?: VideoParams;
    [key: string]: unknown;
  };
  subscribeParams?: { subscribeToRoles?: string[]; maxSubsBitRate?: number; [key: string]: unknown };
  permissions?: Record<string, boolean>;
  priority?: number;
  maxPeerCount?: number;
  [key: string]: unknown;
}

export interface TemplateSettings {
  region?: string;
  recording?: { enabled?: boolean; upload?: UploadInfo | null; [key: string]: unknown } | null;
  roomState?: JsonObject;
  retry?: JsonObject;
  [key: string]: unknown;
}

/** A ladder rung as a template destination or a start request gives it (kbps). */
export interface LayerInput {
  width: number;
  height: number;
  videoBitrate?: number;
  audioBitrate?: number;
}

export interface HlsDestination {
  name?: string;
  maxDuration?: number;
  layers?: LayerInput[];
  playlistType?: "event" | "live";
  numPlaylistSegments?: number;
  autoStopTimeout?: number;
  role?: string;
  recording?: { hlsVod?: boolean; singleFilePerLayer?: boolean; layers?: LayerInput[]; [key: string]: unknown };
  [key: string]: unknown;
}

export interface BrowserRecordingDestination {
  name?: string;
  role: string;
  width?: number;
  height?: number;
  maxDuration?: number;
  autoStart?: boolean;
  autoStopTimeout?: number;
  [key: string]: unknown;
}

export interface TemplateDestinations {
  browserRecordings?: Record<string, BrowserRecordingDestination>;
  rtmpDestinations?: Record<string, { name?: string; rtmpUrls?: string[] }>;
  hlsDestinations?: Record<string, HlsDestination>;
  transcriptions?: Record<string, { name?: string; role?: string; [key: string]: unknown }>;
}

export interface RecordingConfig {
  name: string;
  role: string;
  maxDuration?: number;
  compositeRecording?: {
    browserComposite?: { enabled?: boolean; autoStart?: boolean; autoStopTimeout?: number; width?: number; height?: number };
    customComposite?: { enabled?: boolean };
  };
  trackRecording?: { enabled?: boolean };
  streamRecording?: { enabled?: boolean; width?: number; height?: number };
  [key: string]: unknown;
}

/** The template object with the keys of 100ms's answers (customerId, createdAt, updatedAt, _id, customer). */
export interface Template {
  id: string;
  name: string;
  customerId: string;
  /** The name 100ms's object table gives. */
  customer_id: string;
  app_id: string;
  roles: Record<string, TemplateRole>;
  settings: TemplateSettings;
  destinations: TemplateDestinations;
  recordings: RecordingConfig[];
  createdAt: string;
  updatedAt: string;
  /** Deprecated copy of id. */
  _id: string;
  /** Deprecated copy of customer_id. */
  customer: string;
}

// ---- sessions ----

export interface SessionPeer {
  id: string;
  session_id: string;
  name: string;
  role: string;
  user_id: string | null;
  joined_at: string;
  left_at: string | null;
}

export interface Session {
  id: string;
  room_id: string;
  customer_id: string;
  app_id: string;
  active: boolean;
  /** Keyed by peer id, as 100ms. */
  peers: Record<string, SessionPeer>;
  created_at: string;
  updated_at: string;
}

// ---- recording assets ----

/** Type-specific metadata, e.g. `{resolution, layer}` (HLS layer MP4s), `{num_layers, max_width, max_height}` (VOD), track ids. */
export interface AssetMetadata {
  resolution?: { width: number; height: number };
  layer?: string;
  num_layers?: string;
  max_width?: number;
  max_height?: number;
  width?: number;
  height?: number;
  peer_id?: string;
  stream_id?: string;
  track_id?: string;
  track_type?: string;
  user_id?: string | null;
  stream_type?: string;
  [key: string]: unknown;
}

/** An asset as embedded in a recording or live stream (no job_id, room_id, session_id). */
export interface EmbeddedAsset {
  id: string;
  type: AssetType;
  path: string;
  status: AssetStatus;
  size: number;
  duration: number;
  created_at: string;
  thumbnails: JsonValue;
  metadata: AssetMetadata;
}

/** `GET /v2/recording-assets[/:id]`. */
export interface RecordingAsset extends EmbeddedAsset {
  job_id: string;
  room_id: string;
  session_id: string;
}

/** `GET /v2/recording-assets/:id/presigned-url`. */
export interface PresignedUrl {
  id: string;
  path: string;
  url: string;
  expiry: number;
}

// ---- browser recordings (beam) ----

export interface RecordingError {
  type: BrowserErrorType | SfuErrorType;
  message: string;
  origin?: FailureOrigin;
}

export interface Recording {
  id: string;
  room_id: string;
  /** "" until the recorder joined a session. */
  session_id: string;
  status: RecordingStatus;
  meeting_url: string;
  destination: string;
  started_by: string;
  stopped_by: string;
  created_at: string;
  started_at: string | null;
  updated_at: string;
  stopped_at: string | null;
  paused: boolean;
  stop_reason?: string;
  error?: RecordingError;
  /** Only on `GET /v2/recordings/:id` (null until there are any). */
  asset_types: AssetType[] | null;
  recording_assets: EmbeddedAsset[] | null;
  /** A session composed again (kind compose): what was asked for; from and to in seconds from the session's start. */
  compose?: { layout: string; resolution: { width: number; height: number }; roles: string[] | null; from: number; to: number };
}

// ---- live streams (HLS) ----

export interface LiveStreamLayer {
  layer: string;
  width: number;
  height: number;
  video_bitrate: number;
  audio_bitrate: number;
}

export interface LiveStream {
  id: string;
  room_id: string;
  session_id: string;
  status: RecordingStatus;
  meeting_url: string;
  playback: { url: string; viewer_url: string };
  recording: { hls_vod: boolean; single_file_per_layer: boolean };
  destination: string;
  created_at: string;
  started_at: string | null;
  updated_at: string;
  started_by: string;
  stopped_at: string | null;
  stopped_by: string;
  layers: LiveStreamLayer[];
  ladder_warning?: string;
  recording_paused: boolean;
  stop_reason?: string;
  error?: RecordingError;
  /** Only on `GET /v2/live-streams/:id`, null until there are any. */
  recording_assets: EmbeddedAsset[] | null;
}

/** `POST /v2/live-streams/room/:room_id/stop`. */
export interface LiveStreamStopPage extends ListPage<LiveStream> {
  error: string;
}

// ---- webhooks ----

export type WebhookState = "pending" | "replaying" | "delivered" | "failed" | "no_endpoint";

/** `GET|POST|DELETE /v2/webhooks/config`. */
export interface WebhookConfig {
  url: string | null;
  headers: Record<string, string>;
  enabled: boolean;
  signing_secret: string;
}

/** One entry of `GET /v2/webhooks/deliveries`. */
export interface DeliveryLogEntry {
  id: string;
  type: string;
  room_id: string | null;
  state: WebhookState;
  url: string | null;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  created_at: string;
  next_attempt_at: string | null;
  delivered_at: string | null;
}

export interface DeliveryAttempt {
  attempt: number;
  replay: boolean;
  url: string;
  started_at: string;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
  response_excerpt: string | null;
}

/** `GET /v2/webhooks/deliveries/:event_id`. */
export interface DeliveryDetail extends DeliveryLogEntry {
  envelope: WebhookEnvelope;
  attempt_log: DeliveryAttempt[];
}

/** `POST /v2/webhooks/deliveries/replay`. */
export interface ReplayAnswer {
  data: Array<{ id: string; state: "replaying"; url: string }>;
}

// ---- webhook events: the envelope, and the data of the events tests read ----

interface RoomEventData {
  room_id: string;
  session_id: string;
  template_id: string;
  [key: string]: unknown;
}

interface SessionEventData extends RoomEventData {
  room_name: string;
  session_started_at: string;
}

interface PeerEventData extends SessionEventData {
  peer_id: string;
  user_id: string | null;
  user_name: string;
  user_data: string;
  role: string;
  joined_at: string;
  type: string;
}

/** Keys shared by the browser recording's and the live stream's webhooks. */
interface BeamEventData extends RoomEventData {
  beam_id: string;
  peer_id: string;
  max_width: number;
  max_height: number;
  meeting_url: string;
  session_started_at: string;
}

interface BeamStateData extends BeamEventData {
  job_id: string;
  state_name: string;
  state_timestamp: string;
}

interface BeamFailureData extends BeamEventData {
  error_type: BrowserErrorType;
  error_message: string;
  error_origin: FailureOrigin;
  duration: number;
}

interface TrackEventData extends RoomEventData {
  peer_id: string;
  stream_id: string;
  track_id: string;
  track_type: string;
}

interface OutputData {
  size: number;
  duration: number;
  recording_id: string;
  recording_path: string;
}

export interface HlsSingleFile {
  asset_id: string;
  layer: string;
  recording_path: string;
  recording_presigned_url: string;
  size: number;
  width: number;
  height: number;
  duration: number;
}

/** Keys both compose webhooks carry: the session, and what was asked for. */
interface ComposeEventData extends RoomEventData {
  compose_id: string;
  room_name: string;
  layout: string;
  width: number;
  height: number;
  roles: string[] | null;
  from: number;
  to: number;
}

/** `data` by event type, for the events the tests read; any other type's data is a plain object. */
export interface WebhookEventData {
  "session.open.success": SessionEventData;
  "session.close.success": SessionEventData & { session_stopped_at: string; session_duration: number };
  "peer.join.success": PeerEventData;
  "peer.leave.success": PeerEventData & { left_at: string; duration: number; reason: string; message: string };
  "beam.started.success": BeamStateData & { start_delay: number; recording_enabled: boolean };
  "beam.stopped.success": BeamStateData & { duration: number; reason: string };
  "beam.recording.success": BeamEventData &
    OutputData & {
      created_at: string;
      started_at: string;
      stopped_at: string;
      location: string;
      recording_presigned_url: string;
      chat_recording_path: string;
      chat_recording_presigned_url: string;
      error?: RecordingError;
    };
  "beam.failure": BeamFailureData;
  "hls.started.success": BeamStateData & {
    url: string;
    start_delay: number;
    started_at: string;
    recording_vod_playlist_enabled: boolean;
    recording_single_file_per_layer_enabled: boolean;
    layers: Array<{ layer: string; width: number; height: number }>;
    ladder_warning?: string;
  };
  "hls.stopped.success": BeamStateData & { started_at: string; stopped_at: string; duration: number; reason: string };
  "hls.recording.success": BeamEventData & {
    duration: number;
    started_at: string;
    stopped_at: string;
    recording_id: string;
    hls_vod_recording_path: string;
    hls_vod_recording_presigned_url: string;
    hls_vod_recording_size: number;
    room_vod_asset_id: string;
    recording_single_files: HlsSingleFile[];
    chat_recording_path: string;
    chat_recording_presigned_url: string;
    paused_spans: Array<{ from: string; to: string | null }>;
  };
  "hls.failure": BeamFailureData;
  "recording.success": SessionEventData & {
    location: string;
    URL: string;
    duration: number;
    size: number;
    recording_path: string;
    recording_presigned_url: string;
    chat_recording_path: string;
    chat_recording_presigned_url: string;
    session_stopped_at: string;
  };
  "recording.failed": SessionEventData & {
    error: string;
    error_type: SfuErrorType;
    error_message: string;
    error_origin: FailureOrigin;
    session_stopped_at: string;
  };
  "track.recording.started.success": TrackEventData;
  "track.recording.success": TrackEventData & OutputData & { recording_presigned_url: string };
  "track.recording.failure": TrackEventData & OutputData & { error_message: string; error_origin: FailureOrigin };
  "stream.recording.success": TrackEventData &
    OutputData & { recording_presigned_url: string; stream_type: "regular" | "screen" | "audio"; user_id: string | null };
  "stream.recording.failure": TrackEventData & OutputData & { error_message: string; error_origin: FailureOrigin };
  "compose.success": ComposeEventData & {
    asset_id: string;
    recording_path: string;
    recording_presigned_url: string;
    size: number;
    duration: number;
    session_started_at: string;
    session_stopped_at: string;
    missing_tracks: Array<{ peer_id: string; track_id: string; kind: string; reason: "gone" | "unreadable" }>;
  };
  "compose.failure": ComposeEventData & { error_type: string; error_message: string; error_origin: FailureOrigin };
}

export type KnownEventType = keyof WebhookEventData;
export type EventData<K extends string> = K extends KnownEventType ? WebhookEventData[K] : JsonObject;

/** The JSON body of a delivery (and of `GET /v2/analytics/events`). */
export interface WebhookEnvelope<K extends string = string> {
  version: "1.0" | "2.0";
  id: string;
  app_id: string;
  account_id: string;
  template_id?: string;
  timestamp: string;
  type: K;
  data: EventData<K>;
}

/** `GET /v2/analytics/events`: 100ms's page of the event log (`limit` = the number of events in it). */
export interface EventLogPage<K extends string = string> {
  limit: number;
  total: number;
  /** Give it as `start` for the next page; "" on the last. */
  next: string;
  events: Array<WebhookEnvelope<K>>;
}
