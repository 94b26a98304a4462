import type { Readable } from "node:stream";

// The one storage contract: recorders, asset routes and the validator use only this. Two backends:
// `LocalStorage` (the internal bucket on local disk) and `S3Storage` (AWS S3, GCS, Alibaba OSS and any
// S3-compatible endpoint); `InternalS3Storage` is the internal bucket on an S3-protocol store
// (TAPEDECK_BUCKET), whose kind is still "internal". Keys are full object keys (`<prefix>/<relative
// path>`, see domain/storage-paths); the internal bucket on S3 adds TAPEDECK_BUCKET's prefix itself.

export type StorageKind = "internal" | "s3" | "gs" | "oss";

export interface PutOptions {
  contentType?: string;
  /** Aborting rejects `put` with an `AbortError` and leaves no object (nor a partial multipart upload). */
  signal?: AbortSignal;
  /** Called with the number of bytes stored so far. */
  onProgress?: (bytes: number) => void;
}

export interface ObjectStorage {
  readonly kind: StorageKind;
  /** What users see for a key: `s3://bucket/key`, `gs://…`, `oss://…`, `tapedeck://internal/key` (local internal bucket). */
  displayPath(key: string): string;
  /** Streams `body` to `key` (replacing any object there); resolves once the object is complete. */
  put(key: string, body: Readable | Buffer | string, opts?: PutOptions): Promise<{ size: number }>;
  /** The object's bytes; rejects with a 404 `AppError` when there is no such object. */
  get(key: string): Promise<Readable>;
  /** The object's size, or null when there is no such object. */
  head(key: string): Promise<{ size: number } | null>;
  /** Removes the object; removing a missing object is not an error. */
  delete(key: string): Promise<void>;
  /**
   * A URL anyone can GET for `expiresInSeconds`. With `downloadName`, the download is named so
   * (`Content-Disposition: attachment`, content-disposition.ts); the stored key is unchanged.
   */
  presignGet(key: string, expiresInSeconds: number, opts?: PresignOptions): Promise<string>;
}

export interface PresignOptions {
  /** The file name a browser saves the download as (people's words: room name, date and time). */
  downloadName?: string;
}
