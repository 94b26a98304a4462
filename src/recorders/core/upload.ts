import fs from "node:fs";
import type { AppContext } from "../../app-context.ts";
import { objectKey } from "../../domain/storage-paths.ts";
import type { FailureOrigin } from "../../domain/recording-types.ts";
import type { UploadConfig } from "../../domain/upload-config.ts";
import { AppError } from "../../errors.ts";

// One recording file from the spool to a destination (the internal bucket when `dest` is null), with a
// presigned link for its webhook. Every failure is an UploadError that says whose side failed (the
// user's bucket: destination; the internal bucket or the spool file: internal), which the recorders
// report (UPLOAD_ERROR, CLOUD_ACCESS_ERROR) once their retries are spent (see recording-failure.ts).

/** 100ms: `recording.success` presigned URLs are "valid for 24 hours"; we use that for every SFU webhook. */
export const WEBHOOK_PRESIGN_SECONDS = 86_400;

export class UploadError extends Error {
  override readonly name = "UploadError";
  readonly origin: FailureOrigin;

  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
    const cause = options.cause;
    this.origin = cause instanceof AppError && cause.origin === "destination" ? "destination" : "internal";
  }
}

export interface Uploaded {
  key: string;
  size: number;
  url: string;
  /** As users see it (`s3://bucket/prefix/…`). */
  path: string;
  /** Sealed destination, for the asset row. */
  location: string;
}

export async function uploadRecording(
  ctx: Pick<AppContext, "storage" | "identity">,
  dest: UploadConfig | null,
  relativePath: string,
  file: string,
  contentType: string,
): Promise<Uploaded> {
  const storage = ctx.storage.open(dest);
  const key = objectKey(dest?.prefix, ctx.identity.customerId, relativePath);
  try {
    const { size } = await storage.put(key, fs.createReadStream(file), { contentType });
    const url = await storage.presignGet(key, WEBHOOK_PRESIGN_SECONDS);
    return { key, size, url, path: storage.displayPath(key), location: ctx.storage.sealLocation(dest) };
  } catch (err) {
    throw new UploadError(`upload of ${storage.displayPath(key)} failed: ${(err as Error).message}`, { cause: err });
  }
}
