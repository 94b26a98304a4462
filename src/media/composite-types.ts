// The SFU composite's data shapes: what a session gives the layout planner (recorders/composite-layout.ts)
// and what the plan hands the ffmpeg argument builders (media/composite-args.ts). Types only, kept in
// media/ so the builders need nothing from the feature folders above them.

export interface TrackRef {
  file: string;
  /**
   * When the file's first frame was received, in ms from the session start: the file's timestamp 0.
   * werift's writer starts its clock at the first frame it writes, and for video that is the first
   * keyframe (it drops what comes before one), so this is the keyframe's arrival, not the track's.
   */
  startMs: number;
  /** When its media ended, in ms from the session start; absent while it may still be growing. */
  endMs?: number;
}

export interface PeerPresence {
  peerId: string;
  name: string;
  /** ms from the session start. */
  joinedAtMs: number;
  /** ms from the session start; absent while the peer is still in the room. */
  leftAtMs?: number | null;
  video?: TrackRef;
  audio?: TrackRef;
  /**
   * A screen share shown in a tile of its own (a tile with `source: "screen"`: a re-composed session's
   * stage). The SFU composite has none here: it shows a peer's screen share as its `video` when it has no camera.
   */
  screen?: TrackRef;
}

export interface CompositeInput {
  /** The session's start (ISO 8601); the origin of every `…Ms` time. */
  sessionStartedAt: string;
  /** The session's length so far, or in all once it closed. */
  durationMs: number;
  peers: PeerPresence[];
}

export interface Tile {
  peerId: string;
  x: number;
  y: number;
  w: number;
  h: number;
  /** Which of the peer's pictures the tile shows: its `video` when absent, its `screen` share when "screen". */
  source?: "screen";
}

export interface LayoutSegment {
  startMs: number;
  endMs: number;
  /** The same bounds in frames of the output (startFrame inclusive, endFrame exclusive). */
  startFrame: number;
  endFrame: number;
  /** In drawing order: a later tile is drawn over an earlier one. */
  tiles: Tile[];
  /**
   * Whose audio is mixed, when not the peers with a tile: a re-composed session hears every peer of the
   * chosen roles, on screen or not (a strip holds only a few). Absent: each peer with a tile, once.
   */
  audioPeers?: string[];
}

export interface Canvas {
  width: number;
  height: number;
  fps: number;
}

export interface CompositePlan {
  sessionStartedAt: string;
  durationMs: number;
  canvas: Canvas;
  peers: PeerPresence[];
  segments: LayoutSegment[];
}
