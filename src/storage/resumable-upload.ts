import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import type { Readable } from "node:stream";
import { AppError } from "../errors.ts";
import { PART_SIZE } from "./s3.storage.ts";
import type { ObjectStorage } from "./storage.ts";

// A multipart upload whose state lives outside the process: every part that went up is in `state`
// (upload id, part numbers, ETags, sizes), which the caller saves as it goes (a recording's details),
// so another process can complete the upload from what was saved, giving exactly the bytes uploaded
// until then. The recorder's usual upload (S3Storage.put, lib-storage) keeps that state in memory only:
// when its node dies, the parts are orphaned. Parts go up one at a time, in order: the saved parts are
// always a prefix of the source.

/** S3 refuses parts under 5 MiB, except the last. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;

/** What a multipart upload needs of a store: its client, the bucket, the object key, and how its errors read. */
export interface MultipartTarget {
  client: S3Client;
  bucket: string;
  /** The object key in the bucket (the internal bucket's prefix included). */
  key: string;
  /** The store's error as the storage reports it (a destination's, or the internal bucket's). */
  fail(err: unknown): Error;
}

/** A storage that can do a resumable upload (S3Storage, InternalS3Storage). */
export interface MultipartCapable {
  multipartTarget(key: string): MultipartTarget;
}

export function canResume(storage: ObjectStorage): storage is ObjectStorage & MultipartCapable {
  return typeof (storage as Partial<MultipartCapable>).multipartTarget === "function";
}

export interface UploadedPart {
  n: number;
  etag: string;
  size: number;
}

/** What is saved after each part: enough for any node to complete (or abort) the upload. */
export interface ResumableUploadState {
  /** The storage key (as ObjectStorage takes it; without the internal bucket's prefix). */
  key: string;
  uploadId: string;
  parts: UploadedPart[];
  /** Where the storage is: `ctx.storage.sealLocation(dest)`, opened again with `openLocation`. */
  location: string;
  /** Set once CompleteMultipartUpload succeeded: the object is there and the upload id is gone. */
  completed?: boolean;
}

export class ResumableUpload {
  private constructor(
    private readonly target: MultipartTarget,
    readonly state: ResumableUploadState,
  ) {}

  /** Starts a multipart upload to `key` of `storage`. */
  static async start(
    storage: MultipartCapable,
    o: { key: string; location: string; contentType?: string; signal?: AbortSignal },
  ): Promise<ResumableUpload> {
    const target = storage.multipartTarget(o.key);
    try {
      const res = await target.client.send(
        new CreateMultipartUploadCommand({ Bucket: target.bucket, Key: target.key, ContentType: o.contentType }),
        { abortSignal: o.signal },
      );
      if (!res.UploadId) throw new AppError("internal", "the store started a multipart upload without an upload id");
      return new ResumableUpload(target, { key: o.key, uploadId: res.UploadId, parts: [], location: o.location });
    } catch (err) {
      throw target.fail(err);
    }
  }

  /** The upload as saved (by this process or another), to complete or abort it. */
  static resume(storage: MultipartCapable, state: ResumableUploadState): ResumableUpload {
    return new ResumableUpload(storage.multipartTarget(state.key), state);
  }

  /** Bytes in the parts uploaded so far. */
  get size(): number {
    return this.state.parts.reduce((n, p) => n + p.size, 0);
  }

  /** Uploads the next part; it is in `state.parts` once this resolves. */
  async uploadPart(body: Buffer, signal?: AbortSignal): Promise<UploadedPart> {
    const { target, state } = this;
    const n = state.parts.length + 1;
    try {
      const res = await target.client.send(
        new UploadPartCommand({ Bucket: target.bucket, Key: target.key, UploadId: state.uploadId, PartNumber: n, Body: body }),
        { abortSignal: signal },
      );
      if (!res.ETag) throw new AppError("internal", `the store answered part ${n} without an ETag`);
      const part = { n, etag: res.ETag, size: body.length };
      state.parts.push(part);
      return part;
    } catch (err) {
      throw target.fail(err);
    }
  }

  /** Completes the object from the saved parts (at least one): exactly their bytes, in order. */
  async complete(): Promise<{ size: number }> {
    const { target, state } = this;
    if (!state.completed) {
      if (!state.parts.length) throw new AppError("internal", "a multipart upload cannot be completed without a part");
      try {
        await target.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: target.bucket,
            Key: target.key,
            UploadId: state.uploadId,
            MultipartUpload: { Parts: state.parts.map((p) => ({ PartNumber: p.n, ETag: p.etag })) },
          }),
        );
      } catch (err) {
        throw target.fail(err);
      }
      state.completed = true;
    }
    return { size: this.size };
  }

  /** Drops the upload and its parts (a store without abort keeps them until its own lifecycle rule). */
  async abort(): Promise<void> {
    const { target, state } = this;
    if (state.completed) return;
    try {
      await target.client.send(new AbortMultipartUploadCommand({ Bucket: target.bucket, Key: target.key, UploadId: state.uploadId }));
    } catch (err) {
      throw target.fail(err);
    }
  }
}

/**
 * Uploads `source` through `up` in parts of `partSize` bytes (the last one shorter), calling `onPart`
 * after each part is stored (to save `up.state`), then completes it. A failure rejects and leaves the
 * upload as it is: the caller aborts it, or leaves it for another node to complete.
 */
export async function uploadInParts(
  up: ResumableUpload,
  source: Readable,
  o: { partSize?: number; signal?: AbortSignal; onPart?: (part: UploadedPart) => Promise<void> } = {},
): Promise<{ size: number }> {
  const partSize = o.partSize ?? PART_SIZE;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const send = async (bytes: number): Promise<void> => {
    const all = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes);
    const part = await up.uploadPart(all.subarray(0, bytes), o.signal);
    const rest = all.subarray(bytes);
    pending = rest.length ? [rest] : [];
    pendingBytes = rest.length;
    await o.onPart?.(part);
  };
  // A source waiting for more bytes (a file still being written) is stopped by the abort too.
  const onAbort = (): void => void source.destroy(o.signal?.reason as Error);
  o.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for await (const chunk of source) {
      o.signal?.throwIfAborted();
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      pending.push(buf);
      pendingBytes += buf.length;
      while (pendingBytes >= partSize) await send(partSize);
    }
    o.signal?.throwIfAborted();
    // A multipart upload needs one part even when the source was empty.
    if (pendingBytes > 0 || up.state.parts.length === 0) await send(pendingBytes);
  } catch (err) {
    source.destroy();
    throw err;
  } finally {
    o.signal?.removeEventListener("abort", onAbort);
  }
  return up.complete();
}
