import type { RTCRtpReceiver, RTCRtpSender, MediaStreamTrack } from "werift";
import type { RoomRow } from "../db/schema.ts";

// What analytics needs to see of a live room, its peers and their tracks: structural types, so the SFU
// (sfu/room.ts, peer.ts, published-track.ts) satisfies them without analytics importing it.

export interface AnalyticsTrackInfo {
  track_id: string;
  stream_id: string;
  kind: "audio" | "video";
  /** tapedeck's sources: camera, microphone, screen (100ms's `source` is regular or screen). */
  source: string;
  muted: boolean;
}

/** A track a peer publishes, as the SFU receives it. */
export interface AnalyticsPublishedTrack {
  info: AnalyticsTrackInfo;
  track: MediaStreamTrack;
  receiver: RTCRtpReceiver;
  /** Video frames received so far (RTP marker bits). */
  frames: number;
}

/** A track the SFU forwards to a peer. */
export interface AnalyticsForwardedTrack {
  info: AnalyticsTrackInfo;
  source: AnalyticsPublishedTrack;
  sender: RTCRtpSender;
}

export interface AnalyticsPeer {
  id: string;
  identity: { name: string; role: string; userId: string; joinedAt: string; hidden: boolean };
  published: Map<string, AnalyticsPublishedTrack>;
  forwarded(): AnalyticsForwardedTrack[];
}

export interface AnalyticsRoom {
  row: RoomRow;
  sessionId: string | null;
  peers: Map<string, AnalyticsPeer>;
}

/** 100ms's `source` of a track: `screen` for a screen share, else `regular`. */
export const hmsSource = (source: string): "regular" | "screen" => (source === "screen" ? "screen" : "regular");
