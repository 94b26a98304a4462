import fs from "node:fs";
import fsp from "node:fs/promises";
import readline from "node:readline";
import { buildCaptureMp4Args } from "../../media/ffmpeg-args.ts";
import { superviseProcess, type ProcessEnd, type ProcessLog, type SupervisedProcess } from "../../process/supervisor.ts";
import { analyzeMedia, type QualityReport } from "../../quality/analyze.ts";
import { EncoderLag, type EncoderLagSummary, PROGRESS_ARGS } from "./encoder-lag.ts";
import type { FileFollower } from "./follow-file.ts";
import { measuredQualityFile } from "./quality.ts";

// The ffmpeg side of a browser recording (beam-capture.ts drives the page): one ffmpeg under the process
// supervisor reads the page's MediaRecorder WebM on stdin, chunk by chunk as the page hands them over,
// and either writes fragmented MP4 on stdout, appended here to the spool file that the live upload
// follows (FileFollower), or, given its own arguments (the HLS ladder), writes its own files.
//
// A stop ends its stdin: ffmpeg writes what is still queued and its trailer and exits; if it has not
// within FFMPEG_DRAIN_MS (a ladder far behind real time), the supervisor sends SIGTERM, then SIGKILL
// FFMPEG_TERM_MS later. kill() is SIGKILL at once. Its stderr is quiet (webmPipeInputArgs: errors only,
// no progress line): the supervisor keeps its last lines for the message saying why it ended.
// bench/capture-pipe.bench.ts measures this path against a bare spawn of the same ffmpeg.

/** Capture bytes waiting for ffmpeg above which the encoder is said to be falling behind (about 20 s at 720p). */
const BEHIND_BYTES = 8 * 1024 * 1024;
/** After the end of its input, how long ffmpeg may take to write what is queued (a ladder behind real time) and its trailer. */
const FFMPEG_DRAIN_MS = 60_000;
/** After SIGTERM, how long before SIGKILL. */
const FFMPEG_TERM_MS = 5000;
/**
 * After the file's end, how long its quality analysis may take to finish (it follows the file as it is
 * written, so normally a moment); after that it is given up and the finish job measures the file.
 */
const MEASURE_TAIL_MS = 20_000;

export interface CaptureFfmpegOptions {
  /** mp4: the fragmented MP4 goes here (truncated first), and `follower` is told as it grows. */
  spoolFile: string;
  follower: FileFollower;
  /** hls: ffmpeg runs with these arguments instead (reading WebM on stdin, writing its own files). */
  ffmpegArgs?: string[];
  /** With ffmpegArgs: what ffmpeg writes on stdout goes here as it comes (rtmp: FLV for the fan-out); never paused. */
  stdout?: StdoutSink;
  /**
   * mp4: measure the file's quality while it is written (src/quality/), and leave the report beside the
   * spool (measuredQualityFile) for the finish job, so it has nothing left to measure: what it should hold.
   */
  quality?: { expectVideo: boolean; expectAudio: boolean };
  /**
   * A live output (a live stream, RTMP out): sample the encoder's lag behind real time (encoder-lag.ts),
   * counted from `zero()`, the wall time of the file's time 0 (0 while not yet known). The capture must
   * not be paused meanwhile (a live kind's pause leaves the capture running).
   */
  lagFrom?: () => number;
  log: ProcessLog & { error(obj: object, msg?: string): void };
}

/** A consumer of an encoder's stdout: takes every chunk at once (it must not block), told once at its end. */
export interface StdoutSink {
  write(chunk: Buffer): void;
  end(): void;
}

export class CaptureFfmpeg {
  /** What there is to show for the recording: MP4 bytes written to the spool, or (an encoder) WebM bytes given to it. */
  bytes = 0;
  /** Bytes the page handed over (MediaRecorder's WebM). */
  chunkBytes = 0;
  /** Time of the first byte written (the file's first frame), or null. */
  firstDataAt: number | null = null;
  /**
   * Settles once, after ffmpeg has exited, its output was read and the spool file is closed (the follower
   * is ended): why it ended, "ffmpeg exited (code 0)" or with the signal and its last stderr line.
   */
  readonly ended: Promise<string>;
  private readonly proc: SupervisedProcess;
  private behindWarnedAt = 0;
  private measuring: Promise<QualityReport | null> | null = null;
  private readonly measureAbort = new AbortController();
  private readonly lag: EncoderLag | null;

  constructor(private readonly o: CaptureFfmpegOptions) {
    this.lag = o.lagFrom ? new EncoderLag(o.lagFrom) : null;
    let out: fs.WriteStream | null = null;
    if (!o.ffmpegArgs) {
      fs.writeFileSync(o.spoolFile, "");
      out = fs.createWriteStream(o.spoolFile, { flags: "a" });
    }
    this.proc = superviseProcess({
      name: "capture ffmpeg",
      command: "ffmpeg",
      // The progress block goes to fd 3: stdout may be the file (mp4) or the stream (rtmp), stderr stays quiet.
      args: [...(this.lag ? PROGRESS_ARGS : []), ...(o.ffmpegArgs ?? buildCaptureMp4Args())],
      stdin: "pipe",
      extraPipes: this.lag ? 1 : 0,
      stdout: out || o.stdout ? "pipe" : "ignore",
      log: o.log,
      gracefulStop: "stdin-end",
      stopGraceMs: FFMPEG_DRAIN_MS,
      killGraceMs: FFMPEG_TERM_MS,
      // No children of its own; in tapedeck's scheduling group, so it does not take an equal CPU share against Chromium.
      group: "shared",
    });
    const progress = this.proc.child.stdio[3] as NodeJS.ReadableStream | undefined | null;
    if (this.lag && progress) {
      const lag = this.lag;
      readline.createInterface({ input: progress }).on("line", (line) => lag.line(line));
    }
    const stdout = this.proc.child.stdout;
    if (out && stdout) {
      const spool = out;
      stdout.on("data", (d: Buffer) => {
        const first = this.firstDataAt === null;
        this.firstDataAt ??= Date.now();
        this.bytes += d.length;
        // The analysis starts once the file's header is on disk (it reads it first).
        if (!spool.write(d, first && o.quality ? () => this.measure() : undefined)) stdout.pause();
        o.follower.grew();
      });
      spool.on("drain", () => stdout.resume());
      spool.on("error", (err) => {
        o.log.error({ err, file: o.spoolFile }, "the recording's spool file could not be written; stopping its ffmpeg");
        void this.proc.kill();
      });
    } else if (o.stdout && stdout) {
      const sink = o.stdout;
      stdout.on("data", (d: Buffer) => sink.write(d));
      stdout.on("close", () => sink.end());
    }
    this.ended = this.proc.ended.then(
      (end) =>
        new Promise<string>((resolve) => {
          const done = () => {
            o.follower.end();
            void this.measured().then(() => resolve(whyEnded(end)));
          };
          if (out && !out.destroyed) out.end(done);
          else done();
        }),
    );
  }

  /** Follows the spool as it is written, measuring its quality (see CaptureFfmpegOptions.quality). */
  private measure(): void {
    const want = this.o.quality;
    if (!want || this.measuring) return;
    this.measuring = analyzeMedia(this.o.spoolFile, {
      ...want,
      follow: () => this.o.follower.stream(),
      signal: this.measureAbort.signal,
      log: this.o.log,
    }).then(
      (report) => report,
      (err: unknown) => {
        if (!this.measureAbort.signal.aborted)
          this.o.log.warn(
            { err: (err as Error).message },
            "the quality analysis during the recording failed; the finish measures the file instead",
          );
        return null;
      },
    );
  }

  /** The report measured while recording, written beside the spool: waited for at most MEASURE_TAIL_MS after the file's end. */
  private async measured(): Promise<void> {
    if (!this.measuring) return;
    const late = setTimeout(() => this.measureAbort.abort(), MEASURE_TAIL_MS);
    const report = await this.measuring;
    clearTimeout(late);
    if (!report) return;
    try {
      await fsp.writeFile(
        measuredQualityFile(this.o.spoolFile),
        JSON.stringify({ ...report, analysis: { ...report.analysis, while_recording: true } }),
      );
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, "could not keep the quality report measured during the recording");
    }
  }

  /** The encoder's lag behind real time so far (lagFrom), or null when it is not sampled or nothing was written yet. */
  encoderLag(): EncoderLagSummary | null {
    return this.lag?.summary() ?? null;
  }

  /** ffmpeg's pid (the leader of its process group), undefined if it did not start. */
  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** Hands ffmpeg a chunk of the page's WebM (dropped once its input has ended), and warns when it falls behind. */
  write(chunk: Buffer): void {
    this.chunkBytes += chunk.length;
    if (this.o.ffmpegArgs) {
      // The encoder writes its own files: what it was given is what there is to count.
      this.firstDataAt ??= Date.now();
      this.bytes += chunk.length;
    }
    const stdin = this.proc.child.stdin;
    if (!stdin?.writable) return;
    stdin.write(chunk);
    // ffmpeg not keeping up (a ladder too big for the machine): the page's chunks pile up here.
    const queued = stdin.writableLength;
    if (queued > BEHIND_BYTES && Date.now() - this.behindWarnedAt > 30_000) {
      this.behindWarnedAt = Date.now();
      this.o.log.warn(
        { queued_bytes: queued },
        "the encoder is falling behind real time: capture data is queueing for ffmpeg (a smaller ladder or TAPEDECK_HLS_CORES would help)",
      );
    }
  }

  /** The end of its input (it finishes the file), then SIGTERM after FFMPEG_DRAIN_MS, then SIGKILL. Idempotent. */
  stop(): void {
    void this.proc.stop();
  }

  /** SIGKILL now. */
  kill(): void {
    void this.proc.kill();
    this.measureAbort.abort();
  }
}

/** "ffmpeg exited (code 0)", "ffmpeg exited (SIGKILL): <its last stderr line>", "ffmpeg did not start (ENOENT)". */
export function whyEnded(end: ProcessEnd): string {
  if (end.reason === "spawn_failed") return `ffmpeg did not start (${end.error?.code ?? end.error?.message ?? "unknown error"})`;
  const last = end.stderrTail.at(-1);
  return `ffmpeg exited (${end.signal ?? `code ${end.code}`})${last ? `: ${last}` : ""}`;
}
