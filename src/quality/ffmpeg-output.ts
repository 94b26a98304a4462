// Readers for what the analysis pass writes (analysis-args.ts): the metadata filters' print files and
// the framecrc packet listing. Pure and fed line by line, so a long recording's listing is never held
// whole in memory.

/** One frame printed by ffmpeg's metadata/ametadata filter: its time (s) and the metadata it carried. */
export interface PrintedFrame {
  t: number;
  tags: Record<string, string>;
}

/**
 * `metadata=mode=print` output: a `frame:N pts:P pts_time:T` line, then one `key=value` line per key.
 * The time comes from the integer pts, in the microsecond time base the analysis graph sets (settb=AVTB):
 * pts_time is printed with 6 significant digits only, a tenth of a second after 3 hours.
 */
export function printedFrameReader(onFrame: (f: PrintedFrame) => void): { line(l: string): void; end(): void } {
  let current: PrintedFrame | null = null;
  const flush = () => {
    if (current && Number.isFinite(current.t)) onFrame(current);
    current = null;
  };
  return {
    line(l) {
      if (l.startsWith("frame:")) {
        flush();
        const pts = /\bpts:(-?\d+)/.exec(l);
        current = { t: pts ? Number(pts[1]) / 1e6 : Number.NaN, tags: {} };
        return;
      }
      const eq = l.indexOf("=");
      if (current && eq > 0) current.tags[l.slice(0, eq)] = l.slice(eq + 1).trim();
    },
    end: flush,
  };
}

/** A dB value as ffmpeg prints it ("-18.06", "-inf", "inf"); -Infinity when unreadable. */
export function readDb(v: string | undefined): number {
  if (v === undefined) return Number.NEGATIVE_INFINITY;
  if (v === "inf" || v === "+inf") return Number.POSITIVE_INFINITY;
  const n = Number(v);
  return Number.isFinite(n) ? n : Number.NEGATIVE_INFINITY;
}

/** The channel count of an ffmpeg channel layout description ("mono", "5.1(side)", "3 channels"); null when unknown. */
export function channelCount(layout: string): number | null {
  const s = layout.trim().toLowerCase();
  const counted = /^(\d+) channels/.exec(s);
  if (counted) return Number(counted[1]);
  const name = s.replace(/\(.*\)$/, "");
  const named: Record<string, number> = {
    mono: 1,
    stereo: 2,
    downmix: 2,
    binaural: 2,
    quad: 4,
    hexagonal: 6,
    octagonal: 8,
    cube: 8,
    hexadecagonal: 16,
  };
  if (named[name]) return named[name];
  const dotted = /^(\d+)\.(\d+)(?:\.(\d+))?$/.exec(name); // 5.1 → 6, 7.1.4 → 12, 22.2 → 24
  if (dotted) return dotted.slice(1).reduce((sum, d) => sum + Number(d ?? 0), 0);
  return null;
}

export interface PacketListing {
  /** Bytes of every packet whose timestamp is in [i, i+1) s. */
  bytesPerSecond: number[];
  /** The video stream's packets: how many, the first and last timestamps (s). */
  video: { packets: number; first: number; last: number };
  /** The first audio stream's channel count, when its layout was readable. */
  audioChannels: number | null;
}

const NO_TIMESTAMP = -(2 ** 62); // ffmpeg prints AV_NOPTS_VALUE as the smallest int64

/**
 * ffmpeg's framecrc listing of the streams copied as they are (demuxed, not decoded): `#tb N: 1/15360`,
 * `#media_type N: video`, `#channel_layout_name N: stereo` headers, then one line per packet:
 * `stream, dts, pts, duration, size, crc[, flags…]`, timestamps in the stream's time base.
 */
export function packetListingReader(): { line(l: string): void; result(): PacketListing } {
  const streams = new Map<number, { type: string; tb: number }>();
  const out: PacketListing = {
    bytesPerSecond: [],
    video: { packets: 0, first: Number.POSITIVE_INFINITY, last: Number.NEGATIVE_INFINITY },
    audioChannels: null,
  };
  const stream = (i: number) => streams.get(i) ?? (streams.set(i, { type: "", tb: 0 }), streams.get(i)!);
  let videoIndex = -1; // the first video stream: the one whose frame rate is reported
  return {
    line(l) {
      if (l.startsWith("#")) {
        const m = /^#(\w+) (\d+): (.*)$/.exec(l);
        if (!m) return;
        const s = stream(Number(m[2]));
        if (m[1] === "tb") {
          const [num, den] = m[3].split("/").map(Number);
          s.tb = den ? num / den : 0;
        } else if (m[1] === "media_type") {
          s.type = m[3].trim();
          if (s.type === "video" && videoIndex < 0) videoIndex = Number(m[2]);
        } else if (m[1] === "channel_layout_name" && out.audioChannels === null) out.audioChannels = channelCount(m[3]);
        return;
      }
      const f = l.split(",");
      if (f.length < 5) return;
      const index = Number(f[0]);
      const s = streams.get(index);
      if (!s?.tb) return;
      const [dts, pts, size] = [Number(f[1]), Number(f[2]), Number(f[4])];
      const ts = pts > NO_TIMESTAMP ? pts : dts;
      if (!(ts > NO_TIMESTAMP) || !Number.isFinite(size)) return;
      const t = ts * s.tb;
      const second = Math.max(0, Math.floor(t));
      while (out.bytesPerSecond.length <= second) out.bytesPerSecond.push(0);
      out.bytesPerSecond[second] += size;
      if (index === videoIndex) {
        out.video.packets++;
        out.video.first = Math.min(out.video.first, t);
        out.video.last = Math.max(out.video.last, t);
      }
    },
    result: () => out,
  };
}
