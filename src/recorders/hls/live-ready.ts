import fs from "node:fs";
import path from "node:path";
import { parseMasterPlaylist, parseMediaPlaylist } from "../../media/hls-playlist.ts";

// Why: a live stream is announced (`running`, `hls.started.success`) only once a viewer handed its URL can
// play it. ffmpeg's HLS muxer writes, seconds after the capture starts, each layer's first segment and
// playlist and then the master playlist (each as a .tmp file renamed into place). The capture worker
// (recorders/browser/capture-worker.ts, through hls-recorder.ts's whenRunning) waits here, woken by
// fs.watch on the live folder and its layer folders (no polling unless watching is impossible), until
// what the playback route would serve is complete: master.m3u8 naming every layer, and every layer's
// index.m3u8 listing at least one segment whose file is there.

export interface LayerSize {
  width: number;
  height: number;
}

/** How long after the capture starts a stream may take to become playable before it fails. */
export const PLAYABLE_WITHIN_MS = 30_000;
/** Only when fs.watch cannot be used (e.g. no inotify watches left): a short poll, bounded by the deadline. */
const FALLBACK_POLL_MS = 250;

const layerName = (i: number, l: LayerSize): string => `layer ${i} (${l.width}x${l.height})`;

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return null;
  }
}

function hasFile(file: string): boolean {
  try {
    return fs.statSync(file).size > 0;
  } catch {
    return false;
  }
}

/** The first segment a layer's playlist lists whose file exists, or why there is none. */
function firstSegment(dir: string, i: number): { ok: true } | { ok: false; why: string } {
  const text = readText(path.join(dir, String(i), "index.m3u8"));
  if (text === null) return { ok: false, why: "produced no segment (no playlist yet)" };
  let uris: string[];
  try {
    uris = parseMediaPlaylist(text).segments.map((s) => s.uri);
  } catch {
    return { ok: false, why: "produced no segment (its playlist is not complete yet)" };
  }
  if (!uris.length) return { ok: false, why: "produced no segment (its playlist lists none yet)" };
  const safe = uris.filter((u) => /^[A-Za-z0-9_.-]+$/.test(u));
  if (!safe.some((u) => hasFile(path.join(dir, String(i), u))))
    return { ok: false, why: `produced no segment (${uris[0]} is listed but not on disk yet)` };
  return { ok: true };
}

/**
 * What is still missing before the stream in `dir` can be played, one line each (naming the layer);
 * empty when the master playlist and a first segment of every layer are there.
 */
export function missingForPlayback(dir: string, layers: readonly LayerSize[]): string[] {
  const missing: string[] = [];
  layers.forEach((l, i) => {
    const seg = firstSegment(dir, i);
    if (!seg.ok) missing.push(`${layerName(i, l)} ${seg.why}`);
  });
  const master = readText(path.join(dir, "master.m3u8"));
  if (master === null) {
    missing.push("master.m3u8 was not written");
  } else {
    let listed: string[] = [];
    try {
      listed = parseMasterPlaylist(master).map((v) => v.uri);
    } catch {
      /* not complete: every layer shows as not listed */
    }
    layers.forEach((l, i) => {
      if (!listed.includes(`${i}/index.m3u8`)) missing.push(`master.m3u8 does not list ${layerName(i, l)}`);
    });
  }
  return missing;
}

export type PlayableResult = { playable: true } | { playable: false; why: "timeout" | "ended"; missing: string[] };

/**
 * Resolves when the stream in `dir` can be played (missingForPlayback is empty), or with what is missing
 * when `deadline` (epoch ms) passes or `ended` settles first (the capture stopped or died).
 */
export function waitUntilPlayable(
  dir: string,
  layers: readonly LayerSize[],
  o: { deadline: number; ended: Promise<unknown> },
): Promise<PlayableResult> {
  return new Promise((resolve) => {
    const watchers = new Map<string, fs.FSWatcher>();
    let settled = false;
    let scheduled = false;
    let poll: NodeJS.Timeout | undefined;
    const finish = (r: PlayableResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearInterval(poll);
      for (const w of watchers.values()) w.close();
      resolve(r);
    };
    const check = (): void => {
      if (settled) return;
      if (!missingForPlayback(dir, layers).length) finish({ playable: true });
    };
    // Events come in bursts (a segment's rename, then its playlist's): one check for each burst.
    const schedule = (): void => {
      if (scheduled || settled) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        check();
      });
    };
    const startPolling = (): void => {
      poll ??= setInterval(check, FALLBACK_POLL_MS);
    };
    const watch = (d: string): void => {
      if (settled || watchers.has(d)) return;
      try {
        const w = fs.watch(d, (_event, name) => onEvent(d, name === null ? null : String(name)));
        w.on("error", startPolling);
        watchers.set(d, w);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") startPolling(); // a layer folder not made yet is watched when it appears
      }
    };
    const isLayerDir = (name: string): boolean => /^[0-9]{1,2}$/.test(name);
    // Playlists and segments are renamed into place (ffmpeg's temp_file): their final names are what count.
    const onEvent = (d: string, name: string | null): void => {
      if (d === dir && name !== null && isLayerDir(name)) watch(path.join(dir, name));
      if (name === null || name.endsWith(".m3u8") || name.endsWith(".ts") || isLayerDir(name)) schedule();
    };
    const timer = setTimeout(
      () => finish({ playable: false, why: "timeout", missing: missingForPlayback(dir, layers) }),
      Math.max(0, o.deadline - Date.now()),
    );
    void o.ended.then(
      () => finish({ playable: false, why: "ended", missing: missingForPlayback(dir, layers) }),
      () => finish({ playable: false, why: "ended", missing: missingForPlayback(dir, layers) }),
    );
    // The folder first, then the layer folders already there, then a first look: nothing written
    // between these steps is missed (a new layer folder is an event of the folder's watcher).
    watch(dir);
    if (!watchers.has(dir)) startPolling();
    layers.forEach((_, i) => watch(path.join(dir, String(i))));
    check();
  });
}

/** The failure message of a stream that never became playable, naming the layers that produced no segment. */
export function notPlayableMessage(missing: string[], withinMs: number): string {
  return `the live stream did not become playable within ${Math.round(withinMs / 1000)} s of the capture start: ${missing.join("; ") || "unknown reason"}`;
}
