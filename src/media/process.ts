import type { Readable } from "node:stream";
import { superviseProcess } from "../process/supervisor.ts";

// The one runner for ffmpeg and ffprobe, over the process supervisor (process/supervisor.ts). Every run
// can be bounded (timeoutMs, stallTimeoutMs) and cancelled (signal); each kills the process (SIGTERM,
// then SIGKILL after a grace period) and the promise settles only once the process has exited, so a
// rejected run never leaves an ffmpeg behind. stderr is kept as a bounded tail (for the error) and passed
// line by line to the injected logger by the supervisor, never buffered whole.

/** The logger subset the media code uses (a pino Logger fits). */
export interface MediaLog {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export type MediaErrorCode =
  | "media_failed"
  | "media_timeout"
  | "media_stalled"
  | "media_aborted"
  | "media_missing_tool"
  | "media_bad_output";

/** A failed ffmpeg/ffprobe run: why it ended, its exit status and the last lines it wrote to stderr. */
export class MediaProcessError extends Error {
  override readonly name = "MediaProcessError";
  constructor(
    readonly code: MediaErrorCode,
    readonly tool: string,
    readonly exitCode: number | null,
    readonly exitSignal: NodeJS.Signals | null,
    readonly stderrTail: string[],
    options?: { cause?: unknown; detail?: string },
  ) {
    super(describe(code, tool, exitCode, exitSignal, stderrTail, options?.detail), { cause: options?.cause });
  }
}

function describe(
  code: MediaErrorCode,
  tool: string,
  exitCode: number | null,
  sig: string | null,
  tail: string[],
  detail?: string,
): string {
  const head =
    code === "media_timeout"
      ? `${tool} timed out and was killed`
      : code === "media_stalled"
        ? `${tool} made no progress${detail ? ` for ${detail}` : ""} and was killed`
        : code === "media_aborted"
          ? `${tool} was aborted and killed`
          : code === "media_missing_tool"
            ? `${tool} is not installed (apt-get install -y ffmpeg)`
            : code === "media_bad_output"
              ? `${tool} output could not be read${detail ? `: ${detail}` : ""}`
              : `${tool} exited with ${exitCode !== null ? `code ${exitCode}` : `signal ${sig}`}`;
  const last = tail.slice(-5).join(" | ");
  return last ? `${head}: ${last}` : head;
}

export interface RunOptions {
  signal?: AbortSignal;
  /** Kill the process after this long (0 or absent: no limit). */
  timeoutMs?: number;
  /**
   * Kill ffmpeg when its output time has not advanced for this long (turns `-progress` on). A bound
   * that does not depend on knowing the media's length (a WebM still being written has none).
   */
  stallTimeoutMs?: number;
  /** Media time written so far, in seconds (from `-progress pipe:1`, out_time_us). */
  onProgress?: (seconds: number) => void;
  log?: MediaLog;
  /** Between SIGTERM and SIGKILL (default 5000 ms). */
  killGraceMs?: number;
  /** Piped into its stdin (an input of `pipe:0`, e.g. a file still being written); destroyed when the process ends. */
  stdin?: Readable;
}

interface Spawned {
  stdout: string;
  stderrTail: string[];
}

function run(tool: "ffmpeg" | "ffprobe", args: string[], o: RunOptions & { keepStdout: boolean }): Promise<Spawned> {
  if (o.signal?.aborted) return Promise.reject(new MediaProcessError("media_aborted", tool, null, null, []));
  const proc = superviseProcess({
    name: tool,
    command: tool,
    args,
    stdout: "pipe",
    ...(o.stdin ? { stdin: "pipe" as const } : {}),
    log: o.log,
    killGraceMs: o.killGraceMs ?? 5000,
  });
  const { child } = proc;
  if (o.stdin && child.stdin) {
    const input = o.stdin;
    input.on("error", (err) => {
      o.log?.warn({ tool, pid: proc.pid, err: err.message }, "the media process's input failed; stopping it");
      child.stdin?.end();
    });
    input.pipe(child.stdin);
    void proc.ended.then(() => input.destroy());
  }
  if (proc.pid) o.log?.debug({ tool, pid: proc.pid }, "media process spawned");
  let stdout = "";
  let stdoutPartial = "";
  let killedFor: "media_timeout" | "media_stalled" | "media_aborted" | null = null;

  const kill = (why: "media_timeout" | "media_stalled" | "media_aborted") => {
    if (killedFor || !proc.running) return;
    killedFor = why;
    o.log?.warn({ tool, pid: proc.pid, reason: why }, "killing media process");
    void proc.stop(); // SIGTERM, then SIGKILL after the grace
  };
  let lastOutTime = -1;
  let stallTimer: NodeJS.Timeout | undefined;
  const armStall = () => {
    if (!o.stallTimeoutMs) return;
    clearTimeout(stallTimer);
    stallTimer = setTimeout(() => kill("media_stalled"), o.stallTimeoutMs);
  };
  const onProgressLine = (line: string) => {
    const m = /^out_time_us=(\d+)/.exec(line);
    if (!m) return;
    const seconds = Number(m[1]) / 1e6;
    if (seconds > lastOutTime) {
      lastOutTime = seconds;
      armStall();
    }
    o.onProgress?.(seconds);
  };
  child.stdout?.setEncoding("utf8").on("data", (d: string) => {
    if (o.keepStdout) stdout += d;
    else if (o.onProgress || o.stallTimeoutMs) {
      const lines = (stdoutPartial + d).split("\n");
      stdoutPartial = lines.pop() ?? "";
      lines.forEach(onProgressLine);
    }
  });
  const timer = o.timeoutMs ? setTimeout(() => kill("media_timeout"), o.timeoutMs) : undefined;
  armStall();
  const onAbort = () => kill("media_aborted");
  o.signal?.addEventListener("abort", onAbort, { once: true });
  // Aborted between the check at the top and here (while the process was being spawned): kill it now.
  if (o.signal?.aborted) onAbort();

  return proc.ended.then((end) => {
    clearTimeout(timer);
    clearTimeout(stallTimer);
    o.signal?.removeEventListener("abort", onAbort);
    if (stdoutPartial) onProgressLine(stdoutPartial);
    const tail = end.stderrTail;
    if (end.reason === "spawn_failed" && end.error?.code === "ENOENT") {
      throw new MediaProcessError("media_missing_tool", tool, null, null, [], { cause: end.error });
    }
    if (killedFor) {
      const detail = killedFor === "media_stalled" ? `${o.stallTimeoutMs} ms` : undefined;
      throw new MediaProcessError(killedFor, tool, end.code, end.signal, tail, { detail });
    }
    if (end.reason !== "exited") throw new MediaProcessError("media_failed", tool, end.code, end.signal, tail, { cause: end.error });
    return { stdout, stderrTail: tail };
  });
}

/**
 * Runs ffmpeg with `args` (a builder's output). Resolves with the tail of its stderr; rejects with a
 * MediaProcessError naming the exit code (or the kill reason) and the last stderr lines.
 */
export async function runFfmpeg(args: string[], o: RunOptions = {}): Promise<string> {
  const full = o.onProgress || o.stallTimeoutMs ? ["-progress", "pipe:1", "-nostats", ...args] : args;
  const t0 = performance.now();
  o.log?.debug({ tool: "ffmpeg", args: full }, "media process starting");
  const r = await run("ffmpeg", full, { ...o, keepStdout: false });
  o.log?.debug({ tool: "ffmpeg", wall_ms: Math.round(performance.now() - t0) }, "media process finished");
  return r.stderrTail.join("\n");
}

export interface ProbeStream {
  codec_type: string;
  codec_name: string;
  width?: number;
  height?: number;
  sample_rate?: number;
  nb_frames?: number;
  /** The stream's own duration in seconds, when the container gives one. */
  duration?: number;
}

export interface ProbeResult {
  /** The container's duration; 0 when it has none (a WebM still being written). */
  durationSeconds: number;
  /** The container's first timestamp (negative for Opus with a codec delay; ffmpeg's `-ss` counts from it). */
  startTimeSeconds: number;
  streams: ProbeStream[];
  formatName: string;
  sizeBytes: number;
}

const num = (v: unknown): number | undefined => {
  const n = typeof v === "number" ? v : typeof v === "string" ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
};

/** Pure: ffprobe's `-show_format -show_streams -of json` output → ProbeResult. */
export function parseProbe(json: string): ProbeResult {
  const raw = JSON.parse(json) as { format?: Record<string, unknown>; streams?: Array<Record<string, unknown>> };
  if (!raw.format) throw new Error("ffprobe output has no format section");
  const streams = (raw.streams ?? []).map((s) => {
    const out: ProbeStream = { codec_type: String(s.codec_type ?? ""), codec_name: String(s.codec_name ?? "") };
    for (const k of ["width", "height", "sample_rate", "nb_frames", "duration"] as const) {
      const v = num(s[k]);
      if (v !== undefined) out[k] = v;
    }
    return out;
  });
  return {
    durationSeconds: num(raw.format.duration) ?? 0,
    startTimeSeconds: num(raw.format.start_time) ?? 0,
    streams,
    formatName: String(raw.format.format_name ?? ""),
    sizeBytes: num(raw.format.size) ?? 0,
  };
}

/** ffprobe `file`: container duration, format, size and each stream's codec and shape. */
export async function probe(file: string, o: Omit<RunOptions, "onProgress"> = {}): Promise<ProbeResult> {
  const r = await run("ffprobe", ["-v", "error", "-show_format", "-show_streams", "-of", "json", file], {
    timeoutMs: 60_000,
    ...o,
    keepStdout: true,
  });
  try {
    return parseProbe(r.stdout);
  } catch (err) {
    throw new MediaProcessError("media_bad_output", "ffprobe", 0, null, r.stderrTail, { cause: err, detail: (err as Error).message });
  }
}

/** The size of `file`'s first decoded video frame (a WebM still being written may hold its writer's default size in its header). */
export async function firstFrameSize(file: string, o: Omit<RunOptions, "onProgress"> = {}): Promise<{ width: number; height: number }> {
  const r = await run(
    "ffprobe",
    ["-v", "error", "-select_streams", "v:0", "-read_intervals", "%+#1", "-show_entries", "frame=width,height", "-of", "json", file],
    { timeoutMs: 60_000, ...o, keepStdout: true },
  );
  let frame: { width?: unknown; height?: unknown } | undefined;
  try {
    frame = (JSON.parse(r.stdout) as { frames?: Array<{ width?: unknown; height?: unknown }> }).frames?.[0];
  } catch (err) {
    throw new MediaProcessError("media_bad_output", "ffprobe", 0, null, r.stderrTail, { cause: err, detail: (err as Error).message });
  }
  const [width, height] = [num(frame?.width), num(frame?.height)];
  if (!width || !height)
    throw new MediaProcessError("media_bad_output", "ffprobe", 0, null, r.stderrTail, { detail: `${file}: no decodable video frame` });
  return { width, height };
}
