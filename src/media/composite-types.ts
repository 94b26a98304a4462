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
}

export interface LayoutSegment {
  startMs: number;
  endMs: number;
  /** The same bounds in frames of the output (startFrame inclusive, endFrame exclusive). */
  startFrame: number;
  endFrame: number;
  tiles: Tile[];
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
