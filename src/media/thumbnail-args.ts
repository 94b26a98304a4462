// Still images of a finished recording, for `recording_thumbnails` (100ms's template `thumbnails`:
// `{enabled, width, height, offsets, fps}`; its webhook sample's images are PNG). Pure: argument
// building and the plan, unit-testable; the run is in recorders/core/thumbnails.ts.

/** 100ms's template `thumbnails` object, as stored (every key optional). */
export interface ThumbnailConfig {
  enabled?: boolean;
  width?: number;
  height?: number;
  offsets?: number[];
  fps?: number;
}

export interface ThumbnailPlan {
  /** Seconds from the recording's start, ascending, each within the recording. */
  offsets: number[];
  /** Output size; 0 keeps the recording's own size on that side (both 0: the recording's size). */
  width: number;
  height: number;
}

/** Without `offsets`: an image every this many seconds… */
export const DEFAULT_THUMBNAIL_INTERVAL_S = 60;
/** …the first one this far in (100ms's sample `offsets: [2]`), … */
export const DEFAULT_FIRST_OFFSET_S = 2;
/** …and at most this many (the template allows 10 offsets). */
export const MAX_THUMBNAILS = 10;

const size = (v: unknown): number => (typeof v === "number" && Number.isInteger(v) && v > 0 ? v : 0);

/**
 * What to make for a recording of `durationSeconds`, or null when thumbnails are turned off
 * (`enabled: false`). Offsets past the end are left out; when none is left, one image from the middle.
 */
export function planThumbnails(config: ThumbnailConfig | null | undefined, durationSeconds: number): ThumbnailPlan | null {
  const c = config ?? {};
  if (c.enabled === false) return null;
  const end = Math.max(0, durationSeconds);
  const asked = Array.isArray(c.offsets) ? c.offsets.filter((o) => typeof o === "number" && Number.isFinite(o) && o >= 0) : [];
  let offsets: number[];
  if (asked.length > 0) offsets = [...new Set(asked.map((o) => Math.floor(o)))].sort((a, b) => a - b).filter((o) => o < end);
  else {
    offsets = [];
    for (let o = DEFAULT_FIRST_OFFSET_S; o < end && offsets.length < MAX_THUMBNAILS; o = offsets.length * DEFAULT_THUMBNAIL_INTERVAL_S)
      offsets.push(o);
  }
  if (offsets.length === 0) offsets = [Math.floor(end / 2)];
  return { offsets: offsets.slice(0, MAX_THUMBNAILS), width: size(c.width), height: size(c.height) };
}

/**
 * One ffmpeg run for every image: the input opened once per offset with an input seek (fast: from the
 * keyframe before it, decoding only up to the offset), one frame of each written as PNG to `outputs[i]`,
 * scaled to the plan's size (a 0 side follows the aspect ratio).
 */
export function buildThumbnailArgs(input: string, plan: ThumbnailPlan, outputs: string[]): string[] {
  if (outputs.length !== plan.offsets.length) throw new Error("one output per offset");
  const args = ["-hide_banner", "-loglevel", "error", "-nostdin", "-y"];
  for (const o of plan.offsets) args.push("-ss", String(o), "-i", input);
  const scale =
    plan.width || plan.height ? [`scale=${plan.width || -2}:${plan.height || -2}:flags=bicubic`, "setsar=1"].join(",") : "setsar=1";
  plan.offsets.forEach((_o, i) => {
    args.push("-map", `${i}:v:0`, "-frames:v", "1", "-an", "-vf", scale, "-c:v", "png", "-f", "image2", "-update", "1", outputs[i]);
  });
  return args;
}
