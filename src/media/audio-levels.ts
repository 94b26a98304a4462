// Pure: the ffmpeg run that measures an audio file's loudness in short windows, and the reading of what it
// writes. A session composed again with the active-speaker layout finds who speaks when from these
// levels, the way the live compositor does from GStreamer's `level` element (RMS in dBFS every 100 ms).
//
// The file's own timestamps are kept (`-copyts`), so a window's time is where it is in the file: the
// caller places the file on the session's timeline (a recorded track's timestamp 0 is its first media).

/** The window the levels are measured over, as the live compositor's `level` interval. */
export const LEVEL_WINDOW_MS = 100;

const RATE = 48_000;

/**
 * A path as a filter option value inside a filter graph: escaped for the option parser (`:` ends an
 * option), then for the graph parser (`,` `;` `[` `]` end a filter), as ffmpeg's filter docs say to.
 */
const filterPath = (v: string): string => v.replace(/[\\':]/g, (c) => `\\${c}`).replace(/[\\'[\],;]/g, (c) => `\\${c}`);

/** ffmpeg writes `out`: for each window of the first audio stream, its time and its RMS level. */
export function buildLevelArgs(o: { input: string; out: string }): string[] {
  const samples = (RATE * LEVEL_WINDOW_MS) / 1000;
  return [
    ...["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-copyts"],
    ...["-i", o.input, "-map", "0:a:0", "-vn"],
    "-af",
    [
      // Gaps in the packets (a muted microphone sends none) become silence, at their place in time.
      `aresample=${RATE}:async=1`,
      `asetnsamples=n=${samples}:p=0`,
      "astats=metadata=1:reset=1:measure_perchannel=none:measure_overall=RMS_level",
      `ametadata=mode=print:key=lavfi.astats.Overall.RMS_level:file=${filterPath(o.out)}`,
    ].join(","),
    ...["-f", "null", "-"],
  ];
}

export interface LevelWindow {
  /** The window's start in the file, seconds. */
  t: number;
  /** RMS level, dBFS (-Infinity for digital silence). */
  db: number;
}

/**
 * What `ametadata=mode=print` wrote: a `frame:N pts:P pts_time:T` line, then the key's `key=value`
 * line, for each window. Windows without a value, or with one that is not a number, are skipped.
 */
export function parseLevels(text: string): LevelWindow[] {
  const out: LevelWindow[] = [];
  let t: number | null = null;
  for (const line of text.split("\n")) {
    const time = /pts_time:(-?[0-9.]+)/.exec(line);
    if (time) {
      t = Number(time[1]);
      continue;
    }
    const value = /^lavfi\.astats\.Overall\.RMS_level=(.+)$/.exec(line.trim());
    if (!value || t === null) continue;
    const raw = value[1].trim();
    const db = raw === "-inf" ? Number.NEGATIVE_INFINITY : Number(raw);
    if (Number.isFinite(t) && !Number.isNaN(db)) out.push({ t, db });
    t = null;
  }
  return out;
}
