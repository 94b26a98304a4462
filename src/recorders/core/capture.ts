import type { GapSpan } from "../../quality/report.ts";
import type { EncoderLagSummary } from "./encoder-lag.ts";
import type { FileFollower } from "./follow-file.ts";

// What the capture worker runs for a recording, whoever makes the picture: a browser recording the
// page (beam-capture.ts) or the live compositor (compositor/compositor-capture.ts). Both hand the same
// stream (H.264 + audio in Matroska) to the same capture ffmpeg.

export interface CaptureEnd {
  /** False when the browser, the page, the compositor or ffmpeg died before stop() was asked for. */
  clean: boolean;
  message: string;
  bytes: number;
}

/** The steps a start passes, kept in the recording's progress. */
export type CaptureStepName = "launching_browser" | "loading_page" | "joining_room" | "starting_capture";

export interface RecordingCapture {
  /** Resolves once, when the capture has ended for any reason (stop() or a crash). */
  readonly ended: Promise<CaptureEnd>;
  /** Time of the first byte ffmpeg wrote (the file's first frame), or null. */
  readonly firstDataAt: number | null;
  /** The file's time 0, and when the recording was asked to stop or broke (ms since the epoch). */
  startedAt: number;
  stoppedAt: number | null;
  readonly follower: FileFollower;
  /** A live output's encoder lag behind real time (CaptureFfmpegOptions.lagFrom), null when not sampled. */
  encoderLag(): EncoderLagSummary | null;
  /** Stretches of the file (seconds from its start) the capture knows have no media, with why. */
  gaps(): GapSpan[];
  pause(): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<CaptureEnd>;
  /** Kills everything at once (shutdown without waiting). */
  kill(): Promise<void>;
}
