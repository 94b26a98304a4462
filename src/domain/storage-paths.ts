// Where each recording's files go, relative to `<location>/<prefix>`. Pure: no I/O, unit-tested.
// `<start_date>` is the session's start date as YYYYMMDD (UTC); `<epoch>` the recorder's start in ms.

export function startDate(sessionStartedAt: Date | string): string {
  const d = typeof sessionStartedAt === "string" ? new Date(sessionStartedAt) : sessionStartedAt;
  if (Number.isNaN(d.getTime())) throw new Error(`invalid session start time: ${String(sessionStartedAt)}`);
  return d.toISOString().slice(0, 10).replaceAll("-", "");
}

const SAFE_SEGMENT = /^[A-Za-z0-9._-]+$/;

function seg(name: string, value: string | number): string {
  const s = String(value);
  if (!SAFE_SEGMENT.test(s) || s === "." || s === "..") throw new Error(`unsafe ${name} in storage path: ${JSON.stringify(s)}`);
  return s;
}

export interface PathContext {
  roomId: string;
  sessionStartedAt: Date | string;
}

export const beamPath = (c: PathContext & { epoch: number }): string =>
  `beam/${seg("room_id", c.roomId)}/${startDate(c.sessionStartedAt)}/Rec-${seg("room_id", c.roomId)}-${seg("epoch", c.epoch)}.mp4`;

export const sfuCompositePath = (c: PathContext & { sessionId: string; epoch: number }): string =>
  `${seg("room_id", c.roomId)}/${startDate(c.sessionStartedAt)}/${seg("session_id", c.sessionId)}/Rec-${seg("session_id", c.sessionId)}-${seg("epoch", c.epoch)}.mp4`;

export const trackPath = (c: PathContext & { sessionId: string; peerId: string; streamId: string; trackId: string }): string =>
  `${seg("room_id", c.roomId)}/${startDate(c.sessionStartedAt)}/${seg("session_id", c.sessionId)}/${seg("peer_id", c.peerId)}/${seg("stream_id", c.streamId)}/${seg("track_id", c.trackId)}.webm`;

export const streamPath = (c: PathContext & { sessionId: string; peerId: string; streamId: string }): string =>
  `${seg("room_id", c.roomId)}/${startDate(c.sessionStartedAt)}/${seg("session_id", c.sessionId)}/${seg("peer_id", c.peerId)}/${seg("stream_id", c.streamId)}/${seg("stream_id", c.streamId)}.mp4`;

/** A session composed again (POST /v2/sessions/:id/compose): beside the session's composite, named by the compose's id. */
export const composePath = (c: PathContext & { sessionId: string; composeId: string }): string =>
  `${seg("room_id", c.roomId)}/${startDate(c.sessionStartedAt)}/${seg("session_id", c.sessionId)}/compose/Compose-${seg("compose_id", c.composeId)}.mp4`;

const hlsBase = (c: PathContext & { epoch: number }): string =>
  `hls/${seg("room_id", c.roomId)}/${startDate(c.sessionStartedAt)}/${seg("epoch", c.epoch)}`;

export const hlsVodZipPath = (c: PathContext & { epoch: number }): string =>
  `${hlsBase(c)}/vod/Rec-${seg("room_id", c.roomId)}-${seg("epoch", c.epoch)}.zip`;

export const hlsLayerPath = (c: PathContext & { epoch: number; layerIndex: number }): string =>
  `${hlsBase(c)}/file-recording/Rec-${seg("room_id", c.roomId)}-${seg("epoch", c.epoch)}-${seg("layer_index", c.layerIndex)}.mp4`;

export const chatPath = (c: PathContext & { epoch: number }): string =>
  `chat/${seg("room_id", c.roomId)}/${startDate(c.sessionStartedAt)}/Rec-${seg("room_id", c.roomId)}-${seg("epoch", c.epoch)}.csv`;

/** `<prefix>/<relative path>`; the prefix defaults to the customer id, as 100ms does. */
export function objectKey(prefix: string | undefined, customerId: string, relativePath: string): string {
  const p = (prefix ?? "").replace(/^\/+|\/+$/g, "") || customerId;
  return `${p}/${relativePath}`;
}

/** A browser recording's thumbnail: next to its MP4, named after it and the image's offset (seconds). */
export const beamThumbnailPath = (c: PathContext & { epoch: number; offset: number }): string =>
  `beam/${seg("room_id", c.roomId)}/${startDate(c.sessionStartedAt)}/Rec-${seg("room_id", c.roomId)}-${seg("epoch", c.epoch)}-thumbnail-${seg("offset", c.offset)}.png`;

/** A live stream recording's thumbnail: in the recording's folder (beside `vod/` and `file-recording/`). */
export const hlsThumbnailPath = (c: PathContext & { epoch: number; offset: number }): string =>
  `${hlsBase(c)}/thumbnails/Rec-${seg("room_id", c.roomId)}-${seg("epoch", c.epoch)}-${seg("offset", c.offset)}.png`;
