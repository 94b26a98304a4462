import type { Readable } from "node:stream";
import { displayPath, type UploadConfig } from "../domain/upload-config.ts";
import { AppError } from "../errors.ts";
import { DestinationError } from "./destination-errors.ts";
import { keyProblem } from "./local.storage.ts";
import { S3Storage } from "./s3.storage.ts";
import type { MultipartTarget } from "./resumable-upload.ts";
import type { ObjectStorage, PresignOptions, PutOptions } from "./storage.ts";

// The internal bucket on an S3-protocol store (TAPEDECK_BUCKET), so that several nodes share it. Keys
// are the ones the local bucket uses (`<customer id>/<relative path>`), with TAPEDECK_BUCKET's prefix put
// in front here: callers (uploadRecording with `dest = null`, the asset routes) never see the prefix,
// and `recording_assets.location = 'internal'` opens the same objects on every node.
//
// `kind` stays "internal": retention applies (the asset routes check the file is still there), and a
// failure is ours, not a user's bucket: the store's errors are turned into `internal` errors (500) that
// name TAPEDECK_BUCKET, so a failed upload is reported with origin `internal`, not `destination`.

export class InternalS3Storage implements ObjectStorage {
  readonly kind = "internal" as const;
  readonly s3: S3Storage;
  /** "" or `some/prefix/`: what every key is stored under. */
  readonly keyPrefix: string;
  /** `s3://bucket/prefix`, as the operator wrote TAPEDECK_BUCKET (for messages). */
  readonly setting: string;

  constructor(upload: UploadConfig) {
    const prefix = upload.prefix.replace(/^\/+|\/+$/g, "");
    this.keyPrefix = prefix ? `${prefix}/` : "";
    this.setting = displayPath(upload, prefix).replace(/\/$/, "");
    try {
      // No outbound policy: the endpoint is the operator's configuration, not something a user gave.
      this.s3 = new S3Storage(upload, undefined, null);
    } catch (err) {
      // The one setting the S3 client cannot do without: an OSS bucket's region.
      throw new AppError(
        "internal",
        `TAPEDECK_BUCKET=${this.setting}: set TAPEDECK_BUCKET_REGION to the bucket's region (for example cn-hangzhou), or TAPEDECK_BUCKET_ENDPOINT to its https://oss-<region>.aliyuncs.com endpoint`,
        { cause: err },
      );
    }
  }

  /** The object key in the bucket for an internal-bucket key; 400 for keys the local bucket refuses too. */
  objectKey(key: string): string {
    const problem = keyProblem(key);
    if (problem) throw new AppError("invalid_param", `invalid object key ${JSON.stringify(key)}`, { details: [problem] });
    return this.keyPrefix + key;
  }

  displayPath(key: string): string {
    return this.s3.displayPath(this.keyPrefix + key);
  }

  async put(key: string, body: Readable | Buffer | string, opts?: PutOptions): Promise<{ size: number }> {
    const objectKey = this.objectKey(key);
    return this.s3.put(objectKey, body, opts).catch((err: unknown) => this.rethrow(err, key));
  }

  async get(key: string): Promise<Readable> {
    const objectKey = this.objectKey(key);
    return this.s3.get(objectKey).catch((err: unknown) => this.rethrow(err, key));
  }

  async head(key: string): Promise<{ size: number } | null> {
    const objectKey = this.objectKey(key);
    return this.s3.head(objectKey).catch((err: unknown) => this.rethrow(err, key));
  }

  async delete(key: string): Promise<void> {
    const objectKey = this.objectKey(key);
    return this.s3.delete(objectKey).catch((err: unknown) => this.rethrow(err, key));
  }

  /** A presigned URL of the store itself: downloads go straight to TAPEDECK_BUCKET_ENDPOINT, not through tapedeck. */
  async presignGet(key: string, expiresInSeconds: number, opts?: PresignOptions): Promise<string> {
    const objectKey = this.objectKey(key);
    return this.s3.presignGet(objectKey, expiresInSeconds, opts).catch((err: unknown) => this.rethrow(err, key));
  }

  /** A resumable upload to `key` (stored under the prefix); its errors read as the internal bucket's. */
  multipartTarget(key: string): MultipartTarget {
    const target = this.s3.multipartTarget(this.objectKey(key));
    return {
      ...target,
      fail: (err) => {
        try {
          this.rethrow(target.fail(err), key);
        } catch (mapped) {
          return mapped as Error;
        }
      },
    };
  }

  destroy(): void {
    this.s3.destroy();
  }

  /** The store's refusal as our own failure (the operator's bucket), naming the setting to fix. */
  private rethrow(err: unknown, key: string): never {
    if (!(err instanceof DestinationError)) throw err;
    if (err.failure === "no_such_key") {
      throw new AppError("not_found", `object ${this.displayPath(key)} does not exist`, {
        details: ["the file is not in the internal bucket; retention may have removed it"],
        cause: err,
      });
    }
    throw new AppError("internal", `internal bucket TAPEDECK_BUCKET=${this.setting}: ${err.message}`, {
      details: [`endpoint: ${this.s3.target.endpoint}`, ...err.details],
      cause: err,
    });
  }
}
