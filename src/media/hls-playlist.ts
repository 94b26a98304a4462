// HLS playlists as ffmpeg writes them, read back: a media playlist's segments and header tags, a master
// playlist's variants. Pure text parsing, no I/O; what live-ready (is the stream playable yet?) and the
// VOD builder (which segments to keep) read. Only what ffmpeg's MPEG-TS HLS output holds is understood:
// no byte ranges, keys or init sections.

export interface MediaSegment {
  uri: string;
  /** #EXTINF, seconds. */
  duration: number;
  /** The wall-clock time of its first sample (#EXT-X-PROGRAM-DATE-TIME), epoch ms; null when absent. */
  programDateTimeMs: number | null;
  /** An #EXT-X-DISCONTINUITY precedes it. */
  discontinuity: boolean;
}

export interface MediaPlaylist {
  targetDuration: number;
  mediaSequence: number;
  /** #EXT-X-VERSION (1 when absent). */
  version: number;
  /** #EXT-X-ENDLIST: the stream ended. */
  ended: boolean;
  /** #EXT-X-INDEPENDENT-SEGMENTS: every segment starts with a keyframe. */
  independentSegments: boolean;
  segments: MediaSegment[];
}

export interface Variant {
  uri: string;
  bandwidth: number;
  /** From RESOLUTION=WxH; 0 when absent (audio only). */
  width: number;
  height: number;
  codecs?: string;
}

const lines = (text: string): string[] =>
  text
    .replace(/^\uFEFF/, "")
    .split(/\r\n|\r|\n/)
    .map((l) => l.trim());

function tagValue(line: string, tag: string): string | null {
  return line.startsWith(`${tag}:`) ? line.slice(tag.length + 1) : null;
}

/** A tag's number (not negative); throws naming the line when it is not one. */
function number(value: string, line: number, tag: string): number {
  const n = value.trim() === "" ? NaN : Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`playlist line ${line}: ${tag} is not a number: ${JSON.stringify(value)}`);
  return n;
}

/**
 * An ISO 8601 date-time → epoch ms; null when unreadable. ffmpeg writes the offset without a colon
 * (`2024-05-01T10:00:00.123+0000`), which ECMAScript's date format does not cover; a missing offset
 * is taken as UTC.
 */
function parseDateTime(s: string): number | null {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i.exec(s);
  if (!m) return null;
  const frac = (m[3] ?? ".").slice(0, 4).padEnd(4, "0");
  const zone = !m[4] || m[4].toUpperCase() === "Z" ? "Z" : `${m[4].slice(0, 3)}:${m[4].slice(3).replace(":", "") || "00"}`;
  const ms = Date.parse(`${m[1]}T${m[2]}${frac}${zone}`);
  return Number.isFinite(ms) ? ms : null;
}

/**
 * A media playlist's segments and the header tags VOD needs. Tags before a URI line belong to that
 * segment, in any order (ffmpeg 5.1 writes #EXTINF before #EXT-X-PROGRAM-DATE-TIME); unknown tags and
 * comments are skipped. A URI without an #EXTINF, or a number that is not one, is an error.
 */
export function parseMediaPlaylist(text: string): MediaPlaylist {
  const ls = lines(text);
  if (ls.find((l) => l !== "") !== "#EXTM3U") throw new Error("not an HLS playlist: it does not start with #EXTM3U");
  const out: MediaPlaylist = { targetDuration: 0, mediaSequence: 0, version: 1, ended: false, independentSegments: false, segments: [] };
  let duration: number | null = null;
  let pdt: number | null = null;
  let discontinuity = false;
  for (const [i, l] of ls.entries()) {
    let v: string | null;
    if (l === "") continue;
    if ((v = tagValue(l, "#EXTINF")) !== null) duration = number(v.split(",")[0], i + 1, "#EXTINF");
    else if ((v = tagValue(l, "#EXT-X-PROGRAM-DATE-TIME")) !== null) pdt = parseDateTime(v);
    else if (l === "#EXT-X-DISCONTINUITY") discontinuity = true;
    else if (l === "#EXT-X-ENDLIST") out.ended = true;
    else if (l === "#EXT-X-INDEPENDENT-SEGMENTS") out.independentSegments = true;
    else if ((v = tagValue(l, "#EXT-X-TARGETDURATION")) !== null) out.targetDuration = number(v, i + 1, "#EXT-X-TARGETDURATION");
    else if ((v = tagValue(l, "#EXT-X-MEDIA-SEQUENCE")) !== null) out.mediaSequence = number(v, i + 1, "#EXT-X-MEDIA-SEQUENCE");
    else if ((v = tagValue(l, "#EXT-X-VERSION")) !== null) out.version = number(v, i + 1, "#EXT-X-VERSION");
    else if (!l.startsWith("#")) {
      if (duration === null) throw new Error(`playlist line ${i + 1}: segment ${l} has no #EXTINF`);
      out.segments.push({ uri: l, duration, programDateTimeMs: pdt, discontinuity });
      [duration, pdt, discontinuity] = [null, null, false];
    }
  }
  return out;
}

/** `KEY=value,KEY="quoted, value"` → map (quotes removed). */
function parseAttributes(list: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of list.matchAll(/([A-Z0-9-]+)=("[^"]*"|[^,]*)/gi)) out.set(m[1].toUpperCase(), m[2].replace(/^"(.*)"$/, "$1"));
  return out;
}

/** A master playlist's variants (#EXT-X-STREAM-INF and the URI line after it), in its order. */
export function parseMasterPlaylist(text: string): Variant[] {
  const ls = lines(text);
  if (ls.find((l) => l !== "") !== "#EXTM3U") throw new Error("not an HLS playlist: it does not start with #EXTM3U");
  const out: Variant[] = [];
  let pending: Map<string, string> | null = null;
  for (const l of ls) {
    const v = tagValue(l, "#EXT-X-STREAM-INF");
    if (v !== null) pending = parseAttributes(v);
    else if (pending && l !== "" && !l.startsWith("#")) {
      const [w, h] = (/^(\d+)x(\d+)$/i.exec(pending.get("RESOLUTION") ?? "") ?? []).slice(1).map(Number);
      const codecs = pending.get("CODECS");
      out.push({
        uri: l,
        bandwidth: Number(pending.get("BANDWIDTH") ?? 0) || 0,
        width: w ?? 0,
        height: h ?? 0,
        ...(codecs ? { codecs } : {}),
      });
      pending = null;
    }
  }
  return out;
}
