import type { Readable } from "node:stream";
import type { RecordingRow, RoomRow } from "../../db/schema.ts";
import type { RecordingKind, Renderer } from "../../domain/recording-types.ts";
import type { UploadConfig } from "../../domain/upload-config.ts";
import type { WebhookEventType } from "../../domain/webhook-types.ts";
import type { JobPayloads, JobType } from "../../jobs/job-payloads.ts";
import type { Logger } from "../../log.ts";
import type { KindReaching } from "./recording.status.ts";

// What a kind of recording declares about itself, so the code that runs and finishes recordings needs
// no branch on the kind. RecordingDescriptor is the part every kind has: its details, webhooks and finish
// job. Recorder adds what the browser-capture worker (recorders/browser/capture-worker.ts) asks of a
// kind it runs: what the capture writes, how a pause works, when the recording counts as running, and
// what of it is on disk after a crash. The kinds implement it in their own folders (beam-recorder.ts,
// hls-recorder.ts); this file knows none of them.

/** The webhooks a recording sends while it is captured (its success comes from the finish job). */
export type LifecycleEvent = "started" | "stopped" | "failure";

/** Job types whose payload is a recording's id alone: a kind's finish job is one of them. */
export type RecordingJobType = {
  [T in JobType]: JobPayloads[T] extends { recordingId: string } ? ({ recordingId: string } extends JobPayloads[T] ? T : never) : never;
}[JobType];

/** How a kind of recording declares itself: its details, its webhooks and the job that finishes it. */
export interface RecordingDescriptor<D> {
  /** `recordings.kind`; also the worker's log component and its data folder's name. */
  readonly kind: RecordingKind;
  /** Its name in log lines ("browser recording", "live stream"). */
  readonly label: string;
  /** `recordings.details` as this kind keeps them. */
  details(row: RecordingRow): D;
  /** Its webhook event types. */
  readonly events: { success: WebhookEventType; failure: WebhookEventType };
  /** The keys every webhook of this kind carries. */
  webhookBase(row: RecordingRow, room: RoomRow, d: D): Record<string, unknown>;
  /** The job that finishes a recording once its capture is over (payload `{recordingId}`, one per recording). */
  readonly finishJob: RecordingJobType;
}

/** A video layer the live compositor encodes: size, kbps, and for a live ladder its VBV, profile and preset. */
export interface EncodedLayer {
  width: number;
  height: number;
  kbps: number;
  maxrate?: number;
  bufsize?: number;
  profile?: "main";
  preset?: string;
}

/** What a recorder's hooks see of its running capture. */
export interface CaptureHandle {
  /** Pauses and resumes what the page records (the span is left out of the capture's output). */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Settles once the capture has ended, for whatever reason. */
  readonly ended: Promise<unknown>;
  /** The spool file as it grows (a file capture), read to its end once the capture is over. */
  readonly follower: { stream(): Readable };
}

/** A recording the worker holds, as the recorder's hooks get it. */
export interface RecorderRun<D> {
  /** The recording's id. */
  readonly id: string;
  /** The details; a hook may change them (they are written with the next state, or by saveDetails). */
  d: D;
  log: Logger;
  capture: CaptureHandle;
  /** Writes `d` to the recording's row now. */
  saveDetails(): Promise<void>;
}

/** Whether a started capture may be announced as running; if not, why (the worker fails it). */
export type Readiness =
  | { ready: true }
  /** It did not get there in time: the failure's message. */
  | { ready: false; why: "timeout"; message: string }
  /** The capture ended first: what it was waiting for ("the live stream could be played") and what was missing. */
  | { ready: false; why: "ended"; waitingFor: string; missing: string[] };

/** A kind the browser-capture worker runs (one worker per kind): the recorder page captured by Chromium. */
export interface Recorder<D> extends RecordingDescriptor<D> {
  /** A captured kind: one that starts `starting`, runs, and can be asked to stop. */
  readonly kind: KindReaching<"stopping">;
  readonly events: Record<LifecycleEvent | "success", WebhookEventType>;
  /** `state_name` of each lifecycle webhook. */
  readonly states: Record<LifecycleEvent, string>;
  /** Keys a lifecycle webhook carries besides the base and the worker's own; `row` as the webhook reports it. */
  eventKeys(event: LifecycleEvent, row: RecordingRow): Record<string, unknown>;
  /**
   * Its output is watched as it is made (a live stream, RTMP out): the capture samples the encoder's lag
   * behind real time, kept in the details (`encoder_lag_ms`) for the quality report's `live`.
   */
  readonly live?: boolean;
  /** How many recordings of this kind one worker runs at once, and the setting that says so. */
  limit(): { max: number; setting: string };
  /**
   * Prepares the working folder `dir` and says what the capture writes: no arguments = the page's
   * recording as a fragmented MP4 spool file; arguments = an ffmpeg reading the page's WebM on stdin
   * (with `stdout`, what it writes on stdout goes there as it comes).
   */
  build(o: { dir: string; d: D; log: Logger; renderer: Renderer }): {
    ffmpegArgs?: string[];
    stdout?: { write(chunk: Buffer): void; end(): void };
    /** The compositor encodes these video layers itself, highest first (their streams in order in its output); default one at the capture size. */
    layers?: EncodedLayer[];
  };
  /** Once the capture has started (its time 0 in `d.epoch`, the session's start in `d`): where its output will be delivered. */
  placeOutput?(d: D, o: { roomId: string; spool: string; dest: UploadConfig | null }): void;
  /** While it runs (started once it is announced): work alongside the capture; never rejects, awaited before finishing. */
  whileRunning?(run: RecorderRun<D>, o: { dest: UploadConfig | null; signal: AbortSignal }): Promise<void>;
  /** When present, the recording stays `starting` until this says it is ready (`epoch`: the capture's time 0). */
  whenRunning?(run: RecorderRun<D>, epoch: number): Promise<Readiness>;
  /** The API asked for a pause (or to resume). */
  pause(run: RecorderRun<D>, paused: boolean): Promise<void>;
  /** The capture is over (before the output is checked): close what a pause left open. */
  captureEnded?(run: RecorderRun<D>): Promise<void>;
  /** How much output is on this machine (bytes, or 1 when only its presence counts); 0 = nothing to finish. */
  outputOnDisk(d: D): number;
}
