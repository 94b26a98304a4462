import { z } from "zod";

// What each job type carries, in one place: a zod schema per type gives both the type `enqueueJob`
// accepts and the check a payload passes when it is read back from the `jobs` table, so a corrupt or
// outdated row fails its job with a message that names the field, instead of reaching a handler as a cast.

const id = z.string().min(1);
const iso = z.string().min(1);
const recordingJob = z.object({ recordingId: id });

export const JOB_PAYLOAD_SCHEMAS = {
  /** One recorded track from the spool to the room's destination. */
  "upload-track": z.object({
    file: z.string().min(1),
    /** The `recorded_tracks` row and the session's SFU recording. */
    recordedTrackId: id,
    recordingId: id,
    roomId: id,
    sessionId: id,
    sessionStartedAt: iso,
    peerId: id,
    streamId: z.string(),
    trackId: z.string(),
    trackType: z.enum(["audio", "video"]),
    startedAt: iso,
    endedAt: iso,
  }),
  /** A closed session's SFU recording: chat, composite, per-peer MP4s. */
  "process-session": recordingJob,
  /** While the session runs: the composite's closed segments; `tick` counts the chunks. */
  "composite-progress": z.object({ recordingId: id, tick: z.number().int().nonnegative() }),
  /** A browser recording after its capture ended. */
  "beam-finish": recordingJob,
  /** A live stream after it stopped: its VOD and layer MP4s. */
  "hls-finish": recordingJob,
  /** An external stream (RTMP out) after it stopped: its MP4 when it was recorded. */
  "rtmp-finish": recordingJob,
  /** A closed session composed again from its uploaded tracks (POST /v2/sessions/:id/compose). */
  "compose-session": recordingJob,
} as const;

export type JobType = keyof typeof JOB_PAYLOAD_SCHEMAS;
export const JOB_TYPES = Object.keys(JOB_PAYLOAD_SCHEMAS) as JobType[];

export type JobPayloads = { [T in JobType]: z.infer<(typeof JOB_PAYLOAD_SCHEMAS)[T]> };

export const isJobType = (type: string): type is JobType => Object.hasOwn(JOB_PAYLOAD_SCHEMAS, type);

/** A stored payload that cannot be what its job type needs. */
export class JobPayloadError extends Error {
  override readonly name = "JobPayloadError";
}

/** Parses a stored payload and checks it against its type's schema; throws a JobPayloadError naming what is wrong. */
export function readJobPayload<T extends JobType>(type: T, text: string): JobPayloads[T] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new JobPayloadError(`the ${type} job's payload is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const r = JOB_PAYLOAD_SCHEMAS[type].safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join(".") || "(payload)"}: ${i.message}`).join("; ");
    throw new JobPayloadError(`the ${type} job's payload is not valid: ${issues}`);
  }
  return r.data as JobPayloads[T];
}
