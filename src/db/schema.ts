// Table shapes, shared by SQLite and PostgreSQL. Portable column types only: text (ids, ISO-8601 UTC
// timestamps, JSON), integer/bigint, and 0/1 integers for booleans.
import type { Generated, Insertable, Selectable, Updateable } from "kysely";
import type {
  AssetStatus,
  AssetType,
  JobState,
  RecordingKind,
  RecordingStatus,
  TrackKind,
  TrackState,
  TrackUpload,
} from "../domain/recording-types.ts";
import type { WebhookEventType, WebhookState } from "../domain/webhook-types.ts";

export type Bool01 = 0 | 1;

export interface TemplatesTable {
  id: string;
  name: string;
  name_key: string;
  customer_id: string;
  app_id: string;
  roles: string;
  settings: string;
  destinations: string;
  recordings: string;
  created_at: string;
  updated_at: string;
}

export interface RoomsTable {
  id: string;
  name: string;
  name_key: string;
  enabled: Bool01;
  description: string;
  customer_id: string;
  app_id: string;
  template_id: string;
  recording_info: string | null;
  region: string;
  large_room: Bool01;
  size: number | null;
  max_duration_seconds: number | null;
  webhook: string | null;
  polls: string;
  created_at: string;
  updated_at: string;
}

export interface SessionsTable {
  id: string;
  room_id: string;
  customer_id: string;
  app_id: string;
  active: Bool01;
  created_at: string;
  updated_at: string;
  ended_at: string | null;
}

export interface PeersTable {
  id: string;
  session_id: string;
  room_id: string;
  name: string;
  role: string;
  user_id: string;
  user_data: string;
  joined_at: string;
  left_at: string | null;
  leave_reason: string | null;
  /** The node the peer is connected to (cluster mode; null otherwise). */
  node_id: string | null;
}

export interface RecordingsTable {
  id: string;
  kind: RecordingKind;
  room_id: string;
  session_id: string | null;
  status: RecordingStatus;
  meeting_url: string;
  destination: string;
  started_by: string;
  stopped_by: string;
  details: string;
  failure: string | null;
  created_at: string;
  started_at: string | null;
  stopped_at: string | null;
  updated_at: string;
  /** Beam: the stop the API (or an auto-stop) asked for, e.g. `client request`; null while it should run. */
  stop_reason: string | null;
  /** Beam: 1 while the API asked for a pause. */
  paused: Bool01;
  /** Beam: the worker recording it, and until when its lease holds (renewed while it records). */
  worker: string | null;
  lease_until: string | null;
}

export interface RecordingAssetsTable {
  id: string;
  job_id: string;
  room_id: string;
  session_id: string;
  type: AssetType;
  /** As shown to users, e.g. `s3://bucket/prefix/beam/…/Rec-….mp4`. */
  path: string;
  /** The object key inside the destination. */
  object_key: string;
  /** Sealed JSON of the destination the file was written to, or `internal`. */
  location: string;
  status: AssetStatus;
  size: number;
  duration: number;
  metadata: string;
  thumbnails: string | null;
  created_at: string;
}

export interface WebhookEventsTable {
  id: string;
  type: WebhookEventType;
  room_id: string | null;
  /** The exact JSON body that is delivered (and signed). */
  body: string;
  url: string | null;
  /** Sealed JSON of the static headers configured for the endpoint. */
  headers: string | null;
  /** `replaying`: queued again by the replay endpoint, due now. */
  state: WebhookState;
  attempts: number;
  next_attempt_at: string;
  locked_until: string | null;
  last_error: string | null;
  last_status: number | null;
  created_at: string;
  delivered_at: string | null;
  /** The event log's filters (GET /v2/analytics/events), from the event's data; null when it has none. */
  session_id: string | null;
  peer_id: string | null;
  user_id: string | null;
  beam_id: string | null;
}

/** A peer's quality time series in one session (GET /v2/analytics/peer-stats); `stats` is JSON (analytics/peer-stats.ts). */
export interface PeerStatsTable {
  id: string;
  session_id: string;
  peer_id: string;
  room_id: string;
  stats: string;
  updated_at: string;
}

/** A file's quality report (its `quality` asset's id), as JSON; the grade for filtering without parsing it. */
export interface QualityReportsTable {
  asset_id: string;
  recording_id: string;
  grade: string;
  report: string;
  created_at: string;
}

/** A webhook replay by time range (POST /v2/analytics/webhooks/replay): the events it queued and how it went. */
export interface WebhookReplaysTable {
  id: string;
  /** The normalised filters: an identical replay still running is reused. */
  filter_key: string;
  filters: string;
  /** JSON array of the replayed event ids. */
  event_ids: string;
  status: string;
  started_at: string;
  completed_at: string | null;
}

export interface WebhookAttemptsTable {
  id: string;
  event_id: string;
  attempt: number;
  replay: Bool01;
  url: string;
  started_at: string;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
  response_excerpt: string | null;
}

export interface AppSettingsTable {
  key: string;
  value: string;
  updated_at: string;
}

export interface ChatMessagesTable {
  id: string;
  room_id: string;
  session_id: string;
  sender_peer_id: string;
  sender_name: string;
  sender_user_id: string;
  sender_role: string;
  /** JSON array of target roles; [] = everyone. */
  roles: string;
  /** Set for a direct message (never recorded). */
  to_peer_id: string | null;
  message: string;
  sent_at: string;
}

export interface JobsTable {
  id: string;
  type: string;
  /** Idempotency key: enqueueing the same key twice makes one job. */
  key: string;
  payload: string;
  state: JobState;
  attempts: number;
  run_at: string;
  locked_until: string | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
  /** The node whose spool the job reads (null: any worker); another worker takes it over once that node is dead. */
  node_id: string | null;
}

export interface RecordedTracksTable {
  id: string;
  /** The session's SFU recording (a `recordings` row of kind sfu). */
  recording_id: string;
  room_id: string;
  session_id: string;
  peer_id: string;
  stream_id: string;
  track_id: string;
  kind: TrackKind;
  /** camera | microphone | screen */
  source: string;
  /** The spool file (absolute). */
  file: string;
  /** unreadable: written, but ffprobe finds no media in it */
  state: TrackState;
  /** The track's own upload (track recording); none: not asked for. */
  upload: TrackUpload;
  started_at: string;
  /** When the file's first frame was written: its timestamp 0 (for video, the first keyframe). */
  first_media_at: string | null;
  ended_at: string | null;
  bytes: number | null;
  /** What the recorder saw of its packets (JSON: packets, lost, keyframe_requests, resolutions), once finished. */
  stats: string | null;
}

export interface LiveStreamMetadataTable {
  id: string;
  stream_id: string;
  /** At most 100 characters. */
  payload: string;
  /** Seconds. */
  duration: number;
  created_at: string;
}

/** A room code: `code` (`abc-defg-hij`, unique) stands for `room_id` and `role`; `id` orders the list. */
export interface RoomCodesTable {
  id: string;
  code: string;
  room_id: string;
  role: string;
  enabled: Bool01;
  created_at: string;
  /** When `enabled` last changed (or the creation time). */
  updated_at: string;
}

export type NodeState = "active" | "draining" | "dead";

export interface NodesTable {
  id: string;
  /** Where other nodes reach it (TAPEDECK_NODE_URL). */
  url: string;
  /** Comma-separated roles. */
  roles: string;
  state: NodeState;
  pid: number;
  version: string;
  /** JSON NodeLoad: cpu (cores busy), rooms, peers, recordings. */
  load: string;
  started_at: string;
  heartbeat_at: string;
}

export interface RoomPlacementsTable {
  room_id: string;
  node_id: string;
  placed_at: string;
}

export interface ClusterLeasesTable {
  name: string;
  node_id: string;
  expires_at: string;
}

export interface Database {
  templates: TemplatesTable;
  rooms: RoomsTable;
  sessions: SessionsTable;
  peers: PeersTable;
  recordings: RecordingsTable;
  recording_assets: RecordingAssetsTable;
  webhook_events: WebhookEventsTable;
  webhook_attempts: WebhookAttemptsTable;
  app_settings: AppSettingsTable;
  chat_messages: ChatMessagesTable;
  jobs: JobsTable;
  recorded_tracks: RecordedTracksTable;
  live_stream_metadata: LiveStreamMetadataTable;
  room_codes: RoomCodesTable;
  peer_stats: PeerStatsTable;
  webhook_replays: WebhookReplaysTable;
  nodes: NodesTable;
  room_placements: RoomPlacementsTable;
  cluster_leases: ClusterLeasesTable;
  quality_reports: QualityReportsTable;
}

export type NodeRow = Selectable<NodesTable>;

export type JobRow = Selectable<JobsTable>;
export type RecordedTrackRow = Selectable<RecordedTracksTable>;
export type ChatMessageRow = Selectable<ChatMessagesTable>;
export type TemplateRow = Selectable<TemplatesTable>;
export type RoomRow = Selectable<RoomsTable>;
export type SessionRow = Selectable<SessionsTable>;
export type PeerRow = Selectable<PeersTable>;
export type RecordingRow = Selectable<RecordingsTable>;
/** Columns of a recording to set (its status only through recorders/core/recording.repository.ts transitions). */
export type RecordingUpdate = Updateable<RecordingsTable>;
export type LiveStreamMetadataRow = Selectable<LiveStreamMetadataTable>;
export type RoomCodeRow = Selectable<RoomCodesTable>;
export type AssetRow = Selectable<RecordingAssetsTable>;
export type WebhookEventRow = Selectable<WebhookEventsTable>;
export type WebhookAttemptRow = Selectable<WebhookAttemptsTable>;
export type NewWebhookEvent = Insertable<WebhookEventsTable>;
export type RoomUpdate = Updateable<RoomsTable>;
export type { Generated };
