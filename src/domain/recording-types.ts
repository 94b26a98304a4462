// The string unions of the recording data model, in one place.

export const ASSET_TYPES = ["room-composite", "room-composite-legacy", "room-vod", "chat", "transcript", "summary", "track", "stream"] as const;
export type AssetType = (typeof ASSET_TYPES)[number];

export const ASSET_STATUSES = ["completed", "failed"] as const;
export type AssetStatus = (typeof ASSET_STATUSES)[number];

export const RECORDING_STATUSES = ["starting", "running", "stopping", "post_processing", "completed", "failed"] as const;
export type RecordingStatus = (typeof RECORDING_STATUSES)[number];

/** beam: browser composite; sfu: track/stream/composite recording of a session; hls: live stream. */
export const RECORDING_KINDS = ["beam", "sfu", "hls"] as const;
export type RecordingKind = (typeof RECORDING_KINDS)[number];

/** The role the browser recorder ("Beam") joins with: hidden from other peers (roles starting `__` are), publishes nothing. */
export const RECORDER_ROLE = "__internal_recorder";
/** The recorder's display name, as 100ms shows its bot in the sessions API. */
export const RECORDER_NAME = "Beam";
