import type { RecordingKind, RecordingStatus } from "../../domain/recording-types.ts";

// Which status a recording of each kind may move to from which, as data: the table the repository's
// `transitionRecording` checks in its conditional UPDATE (recording.repository.ts), and the statuses a
// new recording starts in and holds its room in. No I/O here; only the repository writes a status.

/** The browser-captured kinds (beam, hls) move the same way: the capture worker drives both. */
const CAPTURED_TRANSITIONS = {
  starting: ["running", "failed"],
  running: ["stopping", "post_processing", "failed"],
  stopping: ["post_processing", "failed"],
  post_processing: ["completed", "failed"],
  completed: [],
  failed: [],
} as const;

/**
 * Who may move a recording from which status to which, per kind (from → to). Taken from what the
 * recorders do:
 *   beam, hls: the API writes `starting`; the worker makes it `running` (capture started; a live stream
 *     once it is playable) or `failed` (Chromium or the page failed, a stop came first); a stop asked
 *     for while `running` makes it `stopping` (asked for while `starting`, only `stop_reason` is set and the
 *     worker fails it as BEAM_STOPPED); capture over (or its worker gone) → `post_processing` with the
 *     finishing job, or `failed` when nothing was recorded; the finishing job → `completed` or `failed`.
 *   sfu: opened `running` with its session; the session's close → `post_processing`; the
 *     `process-session` job → `completed` or `failed`.
 *   compose: a closed session composed again from its tracks: written `post_processing` by the API with
 *     its `compose-session` job, which makes it `completed` or `failed`.
 * `completed` and `failed` are final.
 */
export const RECORDING_TRANSITIONS = {
  beam: CAPTURED_TRANSITIONS,
  hls: CAPTURED_TRANSITIONS,
  rtmp: CAPTURED_TRANSITIONS,
  sfu: {
    starting: [],
    running: ["post_processing"],
    stopping: [],
    post_processing: ["completed", "failed"],
    completed: [],
    failed: [],
  },
  compose: {
    starting: [],
    running: [],
    stopping: [],
    post_processing: ["completed", "failed"],
    completed: [],
    failed: [],
  },
} as const satisfies Record<RecordingKind, Record<RecordingStatus, readonly RecordingStatus[]>>;

type Table = typeof RECORDING_TRANSITIONS;

/** The statuses a recording of kind K can be moved to. */
export type TargetStatus<K extends RecordingKind> = Table[K][RecordingStatus][number];

/** The kinds that can reach status S. */
export type KindReaching<S extends RecordingStatus> = { [K in RecordingKind]: S extends TargetStatus<K> ? K : never }[RecordingKind];

/** The status a new recording of each kind is written with. */
export const INITIAL_STATUS = {
  beam: "starting",
  hls: "starting",
  rtmp: "starting",
  sfu: "running",
  compose: "post_processing",
} as const satisfies Record<RecordingKind, RecordingStatus>;

/** Recordings of these statuses hold the room (beam, hls): a second start is refused until they stop. */
export const ACTIVE_STATUSES = ["starting", "running", "stopping"] as const satisfies readonly RecordingStatus[];

/** The statuses a recording of `kind` may be moved to `to` from. */
export function allowedFrom(kind: RecordingKind, to: RecordingStatus): RecordingStatus[] {
  const table: Record<RecordingStatus, readonly RecordingStatus[]> = RECORDING_TRANSITIONS[kind];
  return (Object.keys(table) as RecordingStatus[]).filter((from) => table[from].includes(to));
}

export const canTransition = (kind: RecordingKind, from: RecordingStatus, to: RecordingStatus): boolean =>
  (RECORDING_TRANSITIONS[kind] as Record<RecordingStatus, readonly RecordingStatus[]>)[from].includes(to);
