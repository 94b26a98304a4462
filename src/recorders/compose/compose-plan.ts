// A session composed again: which tiles each piece of the chosen time range shows. Pure: no I/O, unit-tested.
//
// The pictures are the live compositor's (compositor-layout.ts `layoutTiles`): a grid of everyone, or the
// active speaker on a stage with the others in a strip, on any canvas (a portrait one stacks); a screen
// share takes the stage in either. The range is cut wherever that picture can change: a join or a leave,
// a screen share's first frame or its end, a new speaker; each piece (a segment) is then rendered by the
// SFU composite's renderer (sfu/composite.ts), which fits each picture in its tile and names it. Cuts are
// snapped to the frame grid of the session timeline, as the SFU composite's are, so the pieces add up
// to the range exactly.

import { type CompositorLayoutName, type LayoutPeer, layoutTiles } from "../compositor/compositor-layout.ts";
import {
  type Canvas,
  type CompositePlan,
  cutSegments,
  type LayoutSegment,
  type PeerPresence,
  presentDuring,
  type Tile,
} from "../sfu/composite-layout.ts";

/** From this moment (ms from the session's start) the stage is this peer's; null: nobody has spoken yet. */
export interface SpeakerChange {
  atMs: number;
  peerId: string | null;
}

export interface ComposePlanInput {
  sessionStartedAt: string;
  /** The session's length (ms). */
  durationMs: number;
  /** The peers of the chosen roles, with their camera (`video`), `screen` share and `audio` tracks. */
  peers: PeerPresence[];
  layout: CompositorLayoutName;
  canvas: Canvas;
  /** The range to compose, in ms from the session's start. */
  fromMs: number;
  toMs: number;
  /** Who speaks when (active-speaker), in time order; ignored by the grid. */
  speakers?: SpeakerChange[];
  /** Also cut at every multiple of this (ms from the session start): bounds a segment's ffmpeg run. 0: never. */
  chunkMs?: number;
}

/** The speaker at `ms`: the last change at or before it. */
export function speakerAt(changes: readonly SpeakerChange[], ms: number): string | null {
  let who: string | null = null;
  for (const c of changes) {
    if (c.atMs > ms) break;
    who = c.peerId;
  }
  return who;
}

/** Whether a screen share shows between `startMs` and `endMs`: its first frame before, its end after. */
const sharing = (p: PeerPresence, startMs: number, endMs: number): boolean =>
  p.screen !== undefined && p.screen.startMs <= startMs && (p.screen.endMs ?? Number.POSITIVE_INFINITY) >= endMs;

/** The segments of the range, each with its tiles (from layoutTiles) and everyone present heard. */
export function planComposeSegments(input: ComposePlanInput): LayoutSegment[] {
  const { fromMs, toMs, durationMs, canvas } = input;
  if (!(toMs > fromMs)) return [];
  const cuts = new Set<number>([fromMs, toMs]);
  const within = (t: number | null | undefined) => t != null && t > fromMs && t < toMs;
  for (const p of input.peers) {
    for (const t of [p.joinedAtMs, p.leftAtMs, p.screen?.startMs, p.screen?.endMs]) if (within(t)) cuts.add(t!);
  }
  const speakers = input.layout === "active-speaker" ? (input.speakers ?? []) : [];
  for (const s of speakers) if (within(s.atMs)) cuts.add(s.atMs);
  const chunk = input.chunkMs ?? 0;
  if (chunk > 0) for (let t = Math.ceil(fromMs / chunk) * chunk; t < toMs; t += chunk) if (within(t)) cuts.add(t);
  return cutSegments(cuts, canvas.fps, (startMs, endMs) => {
    const present = presentDuring(input.peers, startMs, endMs, durationMs);
    const shown: LayoutPeer[] = present.map((p) => ({
      peerId: p.peerId,
      tileSource: `camera:${p.peerId}`,
      ...(sharing(p, startMs, endMs) ? { screenSource: `screen:${p.peerId}` } : {}),
    }));
    const tiles: Tile[] = layoutTiles({
      width: canvas.width,
      height: canvas.height,
      layout: input.layout,
      peers: shown,
      speaker: speakerAt(speakers, startMs),
    })
      .sort((a, b) => a.z - b.z)
      .map((t) => ({
        peerId: t.peerId,
        x: t.x,
        y: t.y,
        w: t.w,
        h: t.h,
        ...(t.id.startsWith("screen:") ? { source: "screen" as const } : {}),
      }));
    return { tiles, audioPeers: present.map((p) => p.peerId) };
  });
}

/** The whole plan, for sfu/composite.ts composeSession. */
export function planCompose(input: ComposePlanInput): CompositePlan {
  return {
    sessionStartedAt: input.sessionStartedAt,
    durationMs: input.durationMs,
    canvas: input.canvas,
    peers: input.peers,
    segments: planComposeSegments(input),
  };
}
