import type { RecordingRow } from "../../db/schema.ts";

// Where a starting browser recording or live stream is, step by step, so the dashboard (and any API
// client) can show what the 5-10 s between Start and `running` are spent on. The worker
// (capture-worker.ts) writes the step it reaches into the recording's details as it passes it; the
// API shows it as `progress` (a tapedeck addition) only while the recording is `starting`.

/** The steps, in the order a capture passes them (`first_segment` only for a live stream). */
export const CAPTURE_STEPS = [
  /** Requested; no worker has taken it yet (e.g. the worker is at TAPEDECK_BEAM_MAX / TAPEDECK_HLS_MAX). */
  "waiting_for_recorder",
  /** The worker took it and is starting the recorder's headless Chromium. */
  "launching_browser",
  /** Chromium is opening the recorder page (the room page, or the meeting_url). */
  "loading_page",
  /** The page has loaded and is joining the room. */
  "joining_room",
  /** Joined: the page starts capturing its tab and the encoder; the next frame is the file's first. */
  "starting_capture",
  /** A live stream's frames are encoding: waiting for the first segment of every layer (then it can be played). */
  "first_segment",
] as const;

export type CaptureStep = (typeof CAPTURE_STEPS)[number];

/** As kept in `recordings.details.progress`: the current step and every step reached, with when it began. */
export interface CaptureProgress {
  step: CaptureStep;
  since: string;
  steps: Array<{ step: CaptureStep; since: string }>;
}

/** The next progress after reaching `step` now. */
export function reachStep(prev: CaptureProgress | undefined, step: CaptureStep, at: string = new Date().toISOString()): CaptureProgress {
  const steps = [...(prev?.steps ?? []).filter((s) => s.step !== step), { step, since: at }];
  return { step, since: at, steps };
}

/**
 * `progress` as the API shows it: only while `starting` (absent otherwise). A recording no worker has
 * taken yet is `waiting_for_recorder` since it was requested.
 */
export function renderProgress(row: RecordingRow, d: { progress?: CaptureProgress }): { progress?: CaptureProgress } {
  if (row.status !== "starting") return {};
  if (d.progress?.step && row.worker) return { progress: d.progress };
  const waiting = { step: "waiting_for_recorder" as const, since: row.created_at };
  return { progress: { ...waiting, steps: [waiting] } };
}
