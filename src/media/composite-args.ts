import type { Canvas, LayoutSegment, PeerPresence, Tile } from "./composite-types.ts";
import { drawtextSafe, FONT_FILE } from "./ffmpeg-args.ts";

// Pure ffmpeg argument builders for the SFU composite: one run per layout segment, then one concat.
//
// A segment run reads, for each peer on screen, only its slice of the video and audio track files
// (`-ss` to the segment start, `-t` its length), so runs are small, independent and can happen while
// the session is still live. Each run writes exactly (endFrame - startFrame) video frames and
// exactly as many audio samples (1600 per frame at 48 kHz / 30 fps), so segments join without drift.

export const TILE_COLOUR = "0x262626";
export const AUDIO_RATE = 48000;

export interface SegmentArgsOptions {
  segment: LayoutSegment;
  peers: PeerPresence[];
  canvas: Canvas;
  out: string;
  /**
   * How the segment's audio is stored. "pcm" (the default): 16-bit PCM, sample-exact, encoded to AAC
   * once when the segments are joined. "aac": AAC in every segment, joined by stream copy.
   */
  audio?: "pcm" | "aac";
  /** x264 preset (default veryfast). */
  preset?: string;
  /** Each track file's first timestamp (ffprobe `start_time`), by path; 0 when absent. */
  containerStarts?: ReadonlyMap<string, number>;
}

const sec = (v: number): string => (Math.round(v * 1e6) / 1e6).toFixed(6).replace(/\.?0+$/, "") || "0";

/** The segment's bounds in seconds of the session timeline. */
export function segmentSpan(segment: LayoutSegment, fps: number): { start: number; length: number; frames: number; samples: number } {
  const frames = segment.endFrame - segment.startFrame;
  return { start: segment.startFrame / fps, length: frames / fps, frames, samples: (frames * AUDIO_RATE) / fps };
}

interface SlicedInput {
  /** Input options and `-i file`. */
  args: string[];
  /** Seconds of silence/nothing before the track starts inside the segment (0 when it started before). */
  lead: number;
}

/**
 * Reads a track's part of [start, start+length) of the session timeline; null when the track has no
 * media in it. The file's timestamp 0 is `startMs` on the session timeline (werift's first block is at
 * 0: its first frame, for video the first keyframe). `containerStart` is the file's first timestamp as
 * ffprobe reports it (0 in werift's files),
 * which matters twice: ffmpeg's `-ss` counts from it (a negative one, Opus with a codec delay: -7 ms in
 * ffmpeg-written WebM, would put the audio of every segment but the first that much late), and
 * without `-ss` ffmpeg moves the first packet to 0 (a video whose first keyframe came after the first
 * packet would show early).
 */
export function sliceTrack(
  track: { file: string; startMs: number; endMs?: number },
  start: number,
  length: number,
  containerStart = 0,
): SlicedInput | null {
  if (track.endMs != null && track.endMs / 1000 <= start) return null; // its media ended before the segment
  const at = start - track.startMs / 1000; // the file timestamp at the segment's start
  const first = Math.max(containerStart, 0); // the first one ffmpeg reads when not seeking
  if (at > first) return { args: ["-ss", sec(at - containerStart), "-t", sec(length), "-i", track.file], lead: 0 };
  const lead = Math.round((first - at) * 1e6) / 1e6;
  if (lead >= length) return null;
  return { args: ["-t", sec(length - lead), "-i", track.file], lead };
}

const nameFilter = (tile: Tile, name: string): string => {
  const size = Math.max(16, Math.min(32, Math.round(tile.h / 14)));
  const pad = Math.round(size / 2);
  return `drawtext=fontfile=${FONT_FILE}:text='${drawtextSafe(name)}':fontsize=${size}:fontcolor=white:box=1:boxcolor=black@0.55:boxborderw=${Math.round(size / 4)}:x=${tile.x + pad}:y=${tile.y + tile.h - pad}-th`;
};

/** The picture a tile shows: its peer's camera (`video`), or its screen share for a `screen` tile. */
export const tilePicture = (tile: Tile, peer: PeerPresence | undefined): PeerPresence["video"] =>
  tile.source === "screen" ? peer?.screen : peer?.video;

/** Whose audio a segment mixes: its `audioPeers`, else each peer with a tile, once (a peer may have a camera tile and a screen tile). */
export const heardPeers = (segment: LayoutSegment): string[] => segment.audioPeers ?? [...new Set(segment.tiles.map((t) => t.peerId))];

/** The argument list of one segment's ffmpeg run. */
export function buildSegmentArgs(o: SegmentArgsOptions): string[] {
  const { canvas, segment } = o;
  const span = segmentSpan(segment, canvas.fps);
  const byId = new Map(o.peers.map((p) => [p.peerId, p]));
  const inputs: string[] = [];
  const filters: string[] = [];
  let nInputs = 0;

  // Video of each tile: normalised to the output rate (MediaRecorder WebM timestamps are irregular),
  // letterboxed into its tile on the tile colour, padded with the tile colour before it starts and
  // after it ends, laid over a black canvas. A tile without video is a box of the tile colour. (Filling
  // boxes with drawbox under every tile cost 3.5 ms a frame for four tiles: a third of a segment's run.)
  const noVideo: Tile[] = [];
  const videos: Array<{ tile: Tile; slice: SlicedInput }> = [];
  for (const tile of segment.tiles) {
    const track = tilePicture(tile, byId.get(tile.peerId));
    const slice = track ? sliceTrack(track, span.start, span.length, o.containerStarts?.get(track.file)) : null;
    if (slice) videos.push({ tile, slice });
    else noVideo.push(tile);
  }
  const boxes = noVideo.map((t) => `drawbox=x=${t.x}:y=${t.y}:w=${t.w}:h=${t.h}:color=${TILE_COLOUR}:t=fill`);
  filters.push(
    `${[
      `color=c=black:s=${canvas.width}x${canvas.height}:r=${canvas.fps}`,
      `trim=end_frame=${span.frames}`,
      "format=yuv420p",
      ...boxes,
    ].join(",")}[bg]`,
  );
  let last = "bg";
  videos.forEach(({ tile, slice }, i) => {
    const idx = nInputs++;
    inputs.push(...slice.args);
    // One padding frame more than needed, dropped again by trim: a slice that holds no frame at all (the
    // peer's media stopped before the segment, which only the file knows) then still gives tile-coloured
    // frames. Without it, `tpad=stop=-1` on an empty input loops forever (and ignores SIGTERM).
    const leadFrames = 1 + Math.round(slice.lead * canvas.fps);
    filters.push(
      `[${idx}:v:0]fps=${canvas.fps},scale=${tile.w}:${tile.h}:force_original_aspect_ratio=decrease:force_divisible_by=2:flags=bilinear,` +
        `pad=${tile.w}:${tile.h}:(ow-iw)/2:(oh-ih)/2:color=${TILE_COLOUR},setsar=1,tpad=start=${leadFrames}:stop=-1:color=${TILE_COLOUR},` +
        `trim=start_frame=1,setpts=PTS-STARTPTS,format=yuv420p[v${i}]`,
    );
    filters.push(`[${last}][v${i}]overlay=x=${tile.x}:y=${tile.y}:shortest=1[o${i}]`); // the tile is endless (tpad)
    last = `o${i}`;
  });
  const names = segment.tiles.map((t) => nameFilter(t, byId.get(t.peerId)?.name ?? t.peerId));
  filters.push(`[${last}]${[...names, `trim=end_frame=${span.frames}`].join(",")}[vout]`);

  // Audio: silence of exactly the segment's length, plus every tile's audio, summed (no normalisation:
  // a peer's level does not drop when another one joins).
  const mixIn = ["[sil]"];
  filters.push(`anullsrc=r=${AUDIO_RATE}:cl=stereo,atrim=end_sample=${span.samples}[sil]`);
  for (const peerId of heardPeers(segment)) {
    const peer = byId.get(peerId);
    const slice = peer?.audio ? sliceTrack(peer.audio, span.start, span.length, o.containerStarts?.get(peer.audio.file)) : null;
    if (!slice) continue;
    const idx = nInputs++;
    inputs.push(...slice.args);
    const delay = slice.lead > 0 ? `,adelay=delays=${Math.round(slice.lead * AUDIO_RATE)}S:all=1` : "";
    filters.push(`[${idx}:a:0]aresample=${AUDIO_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo${delay}[a${mixIn.length}]`);
    mixIn.push(`[a${mixIn.length}]`);
  }
  const mix =
    mixIn.length > 1 ? `${mixIn.join("")}amix=inputs=${mixIn.length}:duration=first:dropout_transition=0:normalize=0,` : `${mixIn[0]}`;
  filters.push(`${mix}${mixIn.length > 1 ? "" : "anull,"}apad=whole_len=${span.samples},atrim=end_sample=${span.samples}[aout]`);

  const audioCodec = o.audio === "aac" ? ["-c:a", "aac", "-b:a", "128k"] : ["-c:a", "pcm_s16le"];
  return [
    "-hide_banner",
    "-loglevel",
    "error",
    "-nostdin",
    "-y",
    ...inputs,
    "-filter_complex",
    filters.join(";"),
    "-map",
    "[vout]",
    "-map",
    "[aout]",
    "-c:v",
    "libx264",
    "-preset",
    o.preset ?? "veryfast",
    "-crf",
    "23",
    "-pix_fmt",
    "yuv420p",
    "-r",
    String(canvas.fps),
    "-g",
    String(canvas.fps * 2),
    "-video_track_timescale",
    String(canvas.fps * 512),
    ...audioCodec,
    "-ar",
    String(AUDIO_RATE),
    "-ac",
    "2",
    "-f",
    o.audio === "aac" ? "mp4" : "mov",
    o.out,
  ];
}

/** A concat-demuxer list of `files` (absolute paths; quotes escaped the way the demuxer reads them). */
export function buildConcatList(files: string[]): string {
  return files.map((f) => `file '${f.replaceAll("'", "'\\''")}'\n`).join("");
}

/** Joins the rendered segments: video copied, audio copied ("aac") or encoded once to AAC ("pcm"). */
export function buildConcatArgs(o: { listFile: string; out: string; audio?: "pcm" | "aac" }): string[] {
  const audio = o.audio === "aac" ? ["-c:a", "copy"] : ["-c:a", "aac", "-b:a", "128k", "-ar", String(AUDIO_RATE), "-ac", "2"];
  return [
    "-hide_banner",
    "-loglevel",
    "error",
    "-nostdin",
    "-y",
    "-f",
    "concat",
    "-safe",
    "0",
    "-i",
    o.listFile,
    "-map",
    "0:v:0",
    "-map",
    "0:a:0",
    "-c:v",
    "copy",
    ...audio,
    "-movflags",
    "+faststart",
    "-f",
    "mp4",
    o.out,
  ];
}
