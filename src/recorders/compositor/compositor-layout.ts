// The live compositor's layouts. Pure: no I/O, unit-tested.
//
// What a built-in recording shows, from who is in the room (in join order) and what each one has ready
// to show: a grid of everyone, or (active-speaker) the speaker large with the others in a strip; a screen
// share takes the stage in either. Landscape canvases put the strip on the right, portrait ones below the
// stage; a portrait grid stacks instead of going side by side. Every rectangle is in whole even pixels
// inside the canvas; the compositor fits each picture inside its tile (aspect kept, no crop).

export type CompositorLayoutName = "grid" | "active-speaker";

export interface LayoutPeer {
  peerId: string;
  /** The source showing this peer's camera (its first frame decoded), or its placeholder (name on a plain tile). */
  tileSource: string;
  /** The source of a screen share it has ready, if any. */
  screenSource?: string;
}

export interface LayoutTile {
  /** The compositor source shown here. */
  id: string;
  peerId: string;
  x: number;
  y: number;
  w: number;
  h: number;
  /** Stacking order: the stage under the strip. */
  z: number;
}

export interface LayoutInput {
  width: number;
  height: number;
  layout: CompositorLayoutName;
  /** Shown peers, in join order. */
  peers: LayoutPeer[];
  /** The active speaker (from audio levels), if any. */
  speaker?: string | null;
}

/** At most this many tiles in a grid (3x3), and this many in a strip beside a stage. */
export const MAX_GRID_TILES = 9;
export const MAX_STRIP_TILES = 4;

const even = (v: number): number => Math.max(2, Math.floor(v / 2) * 2);

/** Columns and rows of a grid of n tiles: landscape fills rows first, portrait stacks. */
export function gridShape(n: number, portrait: boolean): { cols: number; rows: number } {
  const [a, b] = n <= 1 ? [1, 1] : n === 2 ? [2, 1] : n <= 4 ? [2, 2] : n <= 6 ? [3, 2] : [3, 3];
  return portrait ? { cols: b, rows: a } : { cols: a, rows: b };
}

interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** `ids` laid out as a grid inside `r`; an incomplete last row is centred. */
export function gridIn(r: Rect, n: number, portrait: boolean): Rect[] {
  if (n <= 0) return [];
  const { cols, rows } = gridShape(n, portrait);
  const w = even(r.w / cols);
  const h = even(r.h / rows);
  const out: Rect[] = [];
  for (let i = 0; i < n; i++) {
    const row = Math.floor(i / cols);
    const col = i % cols;
    const inRow = Math.min(cols, n - row * cols);
    const shift = even(((cols - inRow) * w) / 2) * (inRow < cols ? 1 : 0);
    out.push({ x: r.x + shift + col * w, y: r.y + row * h, w, h });
  }
  return out;
}

/** The tiles for this moment. */
export function layoutTiles(input: LayoutInput): LayoutTile[] {
  const { width, height, peers } = input;
  const portrait = height > width;
  const sharer = peers.find((p) => p.screenSource);
  const speaker =
    input.layout === "active-speaker" && peers.length > 1 ? (peers.find((p) => p.peerId === input.speaker) ?? peers[0]) : null;
  if (!sharer && !speaker) {
    const shown = peers.slice(0, MAX_GRID_TILES);
    return gridIn({ x: 0, y: 0, w: width, h: height }, shown.length, portrait).map((r, i) => ({
      id: shown[i].tileSource,
      peerId: shown[i].peerId,
      ...r,
      z: 1,
    }));
  }
  // A stage and a strip: the screen share (or the speaker) large, the other peers beside or below it.
  const stage = sharer ? { id: sharer.screenSource!, peerId: sharer.peerId } : { id: speaker!.tileSource, peerId: speaker!.peerId };
  const strip = peers.filter((p) => sharer || p.peerId !== stage.peerId).slice(0, MAX_STRIP_TILES);
  if (strip.length === 0) return [{ ...stage, x: 0, y: 0, w: width, h: height, z: 1 }];
  const stageRect = portrait ? { x: 0, y: 0, w: width, h: even(height * 0.6) } : { x: 0, y: 0, w: even(width * 0.75), h: height };
  const stripRect = portrait
    ? { x: 0, y: stageRect.h, w: width, h: height - stageRect.h }
    : { x: stageRect.w, y: 0, w: width - stageRect.w, h: height };
  const cells = stripCells(stripRect, strip.length, portrait);
  return [{ ...stage, ...stageRect, z: 1 }, ...strip.map((p, i) => ({ id: p.tileSource, peerId: p.peerId, ...cells[i], z: 2 }))];
}

/** A strip's cells: a column on the right of a landscape canvas, a row (two when crowded) under a portrait stage. */
function stripCells(r: Rect, n: number, portrait: boolean): Rect[] {
  if (!portrait) {
    const h = even(r.h / MAX_STRIP_TILES);
    const y0 = even((r.h - n * h) / 2);
    return Array.from({ length: n }, (_, i) => ({ x: r.x, y: r.y + y0 + i * h, w: r.w, h }));
  }
  return gridIn(r, n, false);
}

/** The same tiles as before (same sources in the same places)? Then nothing needs to be sent. */
export function sameLayout(a: LayoutTile[], b: LayoutTile[]): boolean {
  return a.length === b.length && a.every((t, i) => JSON.stringify(t) === JSON.stringify(b[i]));
}
