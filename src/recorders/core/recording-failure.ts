import type { BrowserErrorType, FailureOrigin, RecordingFailure, SfuErrorType } from "../../domain/recording-types.ts";
import { AppError } from "../../errors.ts";
import { MediaProcessError } from "../../media/process.ts";
import { UploadError } from "./upload.ts";

// A thrown error → the failure a recorder reports, by the error's class, never by its message: an upload
// (UploadError, or a storage error itself) keeps whose side failed (the user's bucket: destination); an
// ffmpeg/ffprobe run (MediaProcessError) is tapedeck's processing, never an upload error; input that
// cannot make a recording (RecordingInputError) is the client's; anything else is internal. The browser
// recorders (beam, hls) and the SFU recording answer in their own 100ms vocabularies.

/** What was given cannot make a recording (100ms: INPUT_ERROR), e.g. a composite with nothing to show. A kind subclasses it. */
export class RecordingInputError extends Error {
  override readonly name: string = "RecordingInputError";
  readonly errorType = "INPUT_ERROR";
}

type Cause = "upload" | "media" | "input" | "other";

function classify(err: unknown): { cause: Cause; origin: FailureOrigin; message: string } {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof UploadError) return { cause: "upload", origin: err.origin, message };
  if (err instanceof AppError && err.origin === "destination") return { cause: "upload", origin: "destination", message };
  if (err instanceof MediaProcessError) return { cause: "media", origin: "internal", message };
  if (err instanceof RecordingInputError) return { cause: "input", origin: "client", message };
  return { cause: "other", origin: "internal", message };
}

/** For `beam.failure` and `hls.failure`: UPLOAD_ERROR when an upload gave up, else INTERNAL_ERROR. */
export function describeBrowserFailure(err: unknown): RecordingFailure<BrowserErrorType> {
  const c = classify(err);
  return { type: c.cause === "upload" ? "UPLOAD_ERROR" : "INTERNAL_ERROR", origin: c.origin, message: c.message };
}

const SFU_TYPES: Record<Cause, SfuErrorType> = {
  upload: "CLOUD_ACCESS_ERROR",
  media: "PROCESSING_CMD_ERROR",
  input: "INPUT_ERROR",
  other: "API_ERROR",
};

/** For the SFU recording's `recording.failed` (and its per-track and per-peer failures). */
export function describeSfuFailure(err: unknown): RecordingFailure<SfuErrorType> {
  const c = classify(err);
  return { type: SFU_TYPES[c.cause], origin: c.origin, message: c.message };
}
