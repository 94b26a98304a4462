// The SFU composite's layout planner. Pure: no I/O, unit-tested.
//
// The session timeline is cut at every join and leave; each piece (a segment) shows the peers present
// during all of it in a grid that depends only on how many they are: 1 → full frame, 2 → side by side,
// 3-4 → 2x2, 5-6 → 3x2, 7-9 → 3x3; beyond nine, the first nine by join time. An incomplete last row is
// centred. Cut points are snapped to the 30 fps frame grid (so every segment is a whole number of frames
// and the segments add up exactly to the session's length; a join moves by at most half a frame), and a
// segment shorter than one frame disappears. Segments are never merged, so re-planning a live session
// later gives the same closed segments again (what lets a caller render them early).

import type { Canvas, CompositeInput, CompositePlan, LayoutSegment, PeerPresence, Tile, TrackRef } from "../../media/composite-types.ts";

export type { Canvas, CompositeInput, CompositePlan, LayoutSegment, PeerPresence, Tile, TrackRef };

export const COMPOSITE_CANVAS: Canvas = { width: 1280, height: 720, fps: 30 };
export const MAX_TILES = 9;

/** Columns and rows of the grid for `n` tiles (n ≥ 1). */
export function gridFor(n: number): { cols: number; rows: number } {
  if (n <= 1) return { cols: 1, rows: 1 };
  if (n === 2) return { cols: 2, rows: 1 };
  if (n <= 4) return { cols: 2, rows: 2 };
  if (n <= 6) return { cols: 3, rows: 2 };
  return { cols: 3, rows: 3 };
}

const even = (v: number): number => Math.floor(v / 2) * 2;

/** Tiles for `peerIds` (already in display order, at most MAX_TILES are used), row by row. */
export function tilesFor(peerIds: string[], canvas: Canvas = COMPOSITE_CANVAS): Tile[] {
  const ids = peerIds.slice(0, MAX_TILES);
  if (ids.length === 0) return [];
  const { cols, rows } = gridFor(ids.length);
  const w = even(canvas.width / cols);
  const h = even(canvas.height / rows);
  const x0 = even((canvas.width - cols * w) / 2);
  const y0 = even((canvas.height - rows * h) / 2);
  return ids.map((peerId, i) => {
    const row = Math.floor(i / cols);
    const col = i % cols;
    const inRow = Math.min(cols, ids.length - row * cols);
    const rowShift = even(((cols - inRow) * w) / 2);
    return { peerId, x: x0 + rowShift + col * w, y: y0 + row * h, w, h };
  });
}

export const msToFrame = (ms: number, fps: number): number => Math.round((ms * fps) / 1000);

const leftAt = (p: PeerPresence, durationMs: number): number => Math.min(p.leftAtMs ?? durationMs, durationMs);

/** The peers present for all of `startMs`..`endMs`, by join time (the composite shows the first MAX_TILES). */
export function presentDuring(peers: PeerPresence[], startMs: number, endMs: number, durationMs: number): PeerPresence[] {
  return peers
    .filter((p) => p.joinedAtMs <= startMs && leftAt(p, durationMs) >= endMs)
    .sort((a, b) => a.joinedAtMs - b.joinedAtMs || (a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0));
}

/**
 * The segments between consecutive cut points (ms, any order), each snapped to the frame grid; one
 * shorter than a frame disappears. `content` gives what each one shows.
 */
export function cutSegments(
  cuts: Iterable<number>,
  fps: number,
  content: (startMs: number, endMs: number) => Pick<LayoutSegment, "tiles" | "audioPeers">,
): LayoutSegment[] {
  const points = [...new Set(cuts)].sort((a, b) => a - b);
  const segments: LayoutSegment[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const [startMs, endMs] = [points[i], points[i + 1]];
    const startFrame = msToFrame(startMs, fps);
    const endFrame = msToFrame(endMs, fps);
    if (endFrame > startFrame) segments.push({ startMs, endMs, startFrame, endFrame, ...content(startMs, endMs) });
  }
  return segments;
}

/**
 * The composite's segments: the timeline cut at every join and leave, each with its tiles; with
 * `chunkMs`, also at every multiple of it (counted from the session start, so a live re-plan cuts at
 * the same places), which keeps segments short enough to render while the session runs.
 */
export function planLayout(peers: PeerPresence[], durationMs: number, canvas: Canvas = COMPOSITE_CANVAS, chunkMs = 0): LayoutSegment[] {
  if (!(durationMs > 0)) return [];
  const cuts = new Set<number>([0, durationMs]);
  for (const p of peers) {
    for (const t of [p.joinedAtMs, p.leftAtMs]) if (t != null && t > 0 && t < durationMs) cuts.add(t);
  }
  if (chunkMs > 0) for (let t = chunkMs; t < durationMs; t += chunkMs) cuts.add(t);
  return cutSegments(cuts, canvas.fps, (startMs, endMs) => ({
    tiles: tilesFor(
      presentDuring(peers, startMs, endMs, durationMs).map((p) => p.peerId),
      canvas,
    ),
  }));
}

/** Checks the input and plans the whole composite (`chunkMs`: see planLayout). */
export function planComposite(input: CompositeInput, canvas: Canvas = COMPOSITE_CANVAS, chunkMs = 0): CompositePlan {
  const ids = new Set<string>();
  for (const p of input.peers) {
    if (ids.has(p.peerId)) throw new Error(`peer ${p.peerId} appears twice in the composite input`);
    ids.add(p.peerId);
    if (!Number.isFinite(p.joinedAtMs) || (p.leftAtMs != null && p.leftAtMs < p.joinedAtMs)) {
      throw new Error(`peer ${p.peerId} has invalid times: joined ${p.joinedAtMs}, left ${p.leftAtMs}`);
    }
  }
  return {
    sessionStartedAt: input.sessionStartedAt,
    durationMs: input.durationMs,
    canvas,
    peers: input.peers,
    segments: planLayout(input.peers, input.durationMs, canvas, chunkMs),
  };
}

/**
 * Segments of a live session that can be rendered now: those that end at or before `safeUntilMs`
 * (the caller's "every track file holds media up to here", a few seconds behind real time), and not
 * the last one, which is still open while the session runs.
 */
export function closedSegments(plan: CompositePlan, safeUntilMs: number): LayoutSegment[] {
  return plan.segments.slice(0, -1).filter((s) => s.endMs <= safeUntilMs);
}
