import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { createHash } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { Readable, Transform } from "node:stream";
import { AppError } from "../errors.ts";
import { createGuardedAgent, DEFAULT_OUTBOUND_POLICY, type OutboundPolicy } from "../net/outbound-policy.ts";
import { displayPath, type UploadConfig, type UploadType } from "../domain/upload-config.ts";
import { mapS3Error, type DestinationTarget, type StorageOperation } from "./destination-errors.ts";
import { attachmentDisposition } from "./content-disposition.ts";
import type { MultipartTarget } from "./resumable-upload.ts";
import type { ObjectStorage, PresignOptions, PutOptions } from "./storage.ts";

// One S3-protocol client for every destination type: AWS S3, Google Cloud Storage (XML API with HMAC
// keys), Alibaba OSS, and any S3-compatible endpoint (MinIO, R2, Ceph, s3rver…).

export const PART_SIZE = 8 * 1024 * 1024;
export const QUEUE_SIZE = 4;
/** SigV4 presigned URLs cannot outlive 7 days. */
export const MAX_PRESIGN_SECONDS = 7 * 86400;

export interface S3Settings {
  /** Undefined for AWS S3 without a custom endpoint: the SDK picks the regional endpoint. */
  endpoint: string | undefined;
  /** The endpoint requests go to, for messages. */
  displayEndpoint: string;
  region: string;
  forcePathStyle: boolean;
}

/** Endpoint, signing region and addressing style for a destination. Pure; unit-tested. */
export function resolveS3Settings(upload: Pick<UploadConfig, "type" | "options">): S3Settings {
  const { region: givenRegion, endpoint, force_path_style } = upload.options;
  switch (upload.type) {
    case "s3": {
      const region = givenRegion || "us-east-1";
      return {
        endpoint,
        displayEndpoint: endpoint ?? `https://s3.${region}.amazonaws.com`,
        region,
        forcePathStyle: force_path_style ?? Boolean(endpoint),
      };
    }
    case "gs": {
      // GCS signs with region "auto"; path style works for every bucket name (dots included).
      const ep = endpoint ?? "https://storage.googleapis.com";
      return { endpoint: ep, displayEndpoint: ep, region: givenRegion || "auto", forcePathStyle: force_path_style ?? true };
    }
    case "oss": {
      // OSS region ids are `cn-hangzhou`; users often write the endpoint form `oss-cn-hangzhou`.
      const fromEndpoint = endpoint
        ? /^https?:\/\/(?:[^/]*\.)?oss-([a-z0-9-]+?)(?:-internal)?\.aliyuncs\.com/.exec(endpoint)?.[1]
        : undefined;
      const region = (givenRegion || "").replace(/^oss-/, "") || fromEndpoint;
      if (!region) {
        throw new AppError("invalid_body", "Invalid upload configuration: options.region is required for oss (for example cn-hangzhou)", {
          details: ["options.region: required for type oss"],
        });
      }
      const ep = endpoint ?? `https://oss-${region}.aliyuncs.com`;
      // OSS only accepts virtual-hosted addressing (bucket.oss-region.aliyuncs.com).
      return { endpoint: ep, displayEndpoint: ep, region, forcePathStyle: force_path_style ?? false };
    }
  }
}

/**
 * An S3 client whose every connection is checked by the outbound policy (after DNS resolution, on every
 * request and retry); the SDK never follows redirects (followRegionRedirects is off). A null policy is
 * for the operator's own bucket (TAPEDECK_BUCKET): its endpoint is configuration, not a user's input.
 */
export function createS3Client(
  upload: UploadConfig,
  settings: S3Settings = resolveS3Settings(upload),
  policy: OutboundPolicy | null = DEFAULT_OUTBOUND_POLICY,
): S3Client {
  const agentOptions = { keepAlive: true, maxSockets: 50 };
  return new S3Client({
    region: settings.region,
    endpoint: settings.endpoint,
    forcePathStyle: settings.forcePathStyle,
    credentials: upload.credentials ? { accessKeyId: upload.credentials.key, secretAccessKey: upload.credentials.secret } : undefined,
    // Newer SDKs add CRC32 checksum headers and aws-chunked bodies by default, which GCS, OSS and
    // several S3-compatible stores reject. Only send checksums when an operation requires them.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    followRegionRedirects: false,
    maxAttempts: 3,
    requestHandler: {
      connectionTimeout: 10_000,
      requestTimeout: 120_000,
      httpAgent: policy ? createGuardedAgent(policy, http.Agent, agentOptions) : new http.Agent(agentOptions),
      httpsAgent: policy ? (createGuardedAgent(policy, https.Agent, agentOptions) as https.Agent) : new https.Agent(agentOptions),
    },
  });
}

export interface ListedObject {
  key: string;
  size: number;
  /** Undefined if the store did not say (the sweeper then keeps the object). */
  lastModified: Date | undefined;
}

export interface DeleteManyResult {
  deleted: string[];
  failed: Array<{ key: string; code: string; message: string }>;
}

/** DeleteObjects takes at most 1000 keys. */
export const DELETE_BATCH = 1000;
const SINGLE_DELETE_CONCURRENCY = 8;
/** Codes of stores that do not do DeleteObjects; the keys are then deleted one by one. */
const NO_MULTI_DELETE = new Set(["NotImplemented", "MethodNotAllowed"]);

export class S3Storage implements ObjectStorage {
  readonly kind: UploadType;
  readonly client: S3Client;
  readonly bucket: string;
  /** Where requests go and with which key, for messages (no secret). */
  readonly target: DestinationTarget;
  /** GCS's XML API has no multi-object delete; a store that answers NotImplemented turns this off too. */
  private multiDelete: boolean;

  /** `policy` undefined: the built-in outbound policy; null: no check (the operator's own bucket). */
  constructor(upload: UploadConfig, client?: S3Client, policy?: OutboundPolicy | null) {
    const settings = resolveS3Settings(upload);
    this.kind = upload.type;
    this.bucket = upload.location;
    this.client = client ?? createS3Client(upload, settings, policy);
    this.target = {
      type: upload.type,
      bucket: upload.location,
      region: settings.region,
      endpoint: settings.displayEndpoint,
      customEndpoint: Boolean(upload.options.endpoint),
      accessKey: upload.credentials?.key,
    };
    this.multiDelete = upload.type !== "gs";
  }

  displayPath(key: string): string {
    return displayPath({ type: this.kind, location: this.bucket }, key);
  }

  async put(key: string, body: Readable | Buffer | string, opts: PutOptions = {}): Promise<{ size: number }> {
    opts.signal?.throwIfAborted();
    let size = 0;
    let counter: Transform | undefined;
    let sourceError: Error | undefined;
    if (body instanceof Readable) {
      counter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          size += chunk.length;
          done(null, chunk);
        },
      });
      const c = counter;
      body.once("error", (err) => {
        sourceError = err;
        c.destroy(err);
      });
      body.pipe(c);
    } else {
      size = Buffer.byteLength(body);
    }
    const abort = new AbortController();
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: counter ?? body, ContentType: opts.contentType },
      partSize: PART_SIZE,
      queueSize: QUEUE_SIZE,
      leavePartsOnError: false,
      abortController: abort,
    });
    const onAbort = (): void => abort.abort();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    if (opts.onProgress) {
      const report = opts.onProgress;
      upload.on("httpUploadProgress", (p) => {
        if (typeof p.loaded === "number") report(p.loaded);
      });
    }
    try {
      await upload.done();
    } catch (err) {
      // Like stream.pipeline: a failed upload stops the source too, so a producer is not left blocked.
      counter?.destroy();
      if (body instanceof Readable) body.destroy();
      if (sourceError && (err as Error)?.name !== "AbortError") {
        // Our side failed (the recorder's stream), not the user's bucket.
        throw new AppError("internal", `upload of ${this.displayPath(key)} failed: the source stream failed`, {
          cause: sourceError,
          details: [sourceError.message],
        });
      }
      throw this.fail(err, "PutObject", key);
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
    }
    return { size };
  }

  async get(key: string): Promise<Readable> {
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (!(res.Body instanceof Readable)) throw new AppError("internal", "storage returned no readable body");
      return res.Body;
    } catch (err) {
      throw this.fail(err, "GetObject", key);
    }
  }

  async head(key: string): Promise<{ size: number } | null> {
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { size: res.ContentLength ?? 0 };
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      const name = (err as { name?: string }).name;
      if (status === 404 && (name === "NotFound" || name === "NoSuchKey")) return null;
      throw this.fail(err, "HeadObject", key);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      if ((err as { name?: string }).name === "NoSuchKey") return;
      throw this.fail(err, "DeleteObject", key);
    }
  }

  async presignGet(key: string, expiresInSeconds: number, opts: PresignOptions = {}): Promise<string> {
    const expiresIn = Math.max(1, Math.min(Math.floor(expiresInSeconds), MAX_PRESIGN_SECONDS));
    // The name rides in the signed URL (response-content-disposition): the bucket answers with it.
    const disposition = opts.downloadName ? { ResponseContentDisposition: attachmentDisposition(opts.downloadName) } : {};
    try {
      return await getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key, ...disposition }), { expiresIn });
    } catch (err) {
      throw this.fail(err, "GetObject", key);
    }
  }

  /** One page (up to `maxKeys`, at most 1000) of the objects whose key starts with `prefix`; `next` continues the listing. */
  async listPage(
    prefix: string,
    continuationToken?: string,
    maxKeys = 1000,
  ): Promise<{ objects: ListedObject[]; next: string | undefined }> {
    try {
      const res = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: continuationToken, MaxKeys: maxKeys }),
      );
      const objects = (res.Contents ?? [])
        .filter((o) => o.Key !== undefined)
        .map((o) => ({ key: o.Key as string, size: o.Size ?? 0, lastModified: o.LastModified }));
      return { objects, next: res.IsTruncated ? res.NextContinuationToken : undefined };
    } catch (err) {
      throw this.fail(err, "ListObjectsV2", prefix);
    }
  }

  /**
   * Deletes `keys` (DeleteObjects, 1000 a request; one DeleteObject each where the store has no
   * multi-delete). Keys the store refused come back in `failed`; a request that fails as a whole throws.
   */
  async deleteMany(keys: string[]): Promise<DeleteManyResult> {
    const out: DeleteManyResult = { deleted: [], failed: [] };
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      if (this.multiDelete) {
        try {
          const done = await this.deleteBatch(batch);
          out.deleted.push(...done.deleted);
          out.failed.push(...done.failed);
          continue;
        } catch (err) {
          const code = (err as { Code?: string; name?: string }).Code ?? (err as { name?: string }).name ?? "";
          if (!NO_MULTI_DELETE.has(code)) throw this.fail(err, "DeleteObjects", batch[0]);
          this.multiDelete = false;
        }
      }
      const done = await this.deleteEach(batch);
      out.deleted.push(...done.deleted);
      out.failed.push(...done.failed);
    }
    return out;
  }

  private async deleteBatch(keys: string[]): Promise<DeleteManyResult> {
    const command = new DeleteObjectsCommand({
      Bucket: this.bucket,
      Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
    });
    // DeleteObjects needs an integrity header: the SDK sends a CRC32 checksum, which Alibaba OSS and
    // older S3-compatible stores do not know; they ask for Content-MD5, which every store accepts.
    command.middlewareStack.add(
      (next) => async (args) => {
        const req = args.request as { headers?: Record<string, string>; body?: unknown };
        if (req.headers && (typeof req.body === "string" || req.body instanceof Uint8Array)) {
          req.headers["content-md5"] = createHash("md5").update(req.body).digest("base64");
        }
        return next(args);
      },
      { step: "build", name: "tapedeckContentMd5" },
    );
    const res = await this.client.send(command);
    const failed = (res.Errors ?? []).map((e) => ({ key: e.Key ?? "", code: e.Code ?? "UnknownError", message: e.Message ?? "" }));
    const refused = new Set(failed.map((f) => f.key));
    return { deleted: keys.filter((k) => !refused.has(k)), failed };
  }

  private async deleteEach(keys: string[]): Promise<DeleteManyResult> {
    const out: DeleteManyResult = { deleted: [], failed: [] };
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < keys.length) {
        const key = keys[next++];
        try {
          await this.delete(key);
          out.deleted.push(key);
        } catch (err) {
          const e = err as { providerCode?: string; message?: string };
          out.failed.push({ key, code: e.providerCode ?? "UnknownError", message: e.message ?? String(err) });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(SINGLE_DELETE_CONCURRENCY, keys.length) }, worker));
    return out;
  }

  /** What a resumable upload to `key` needs (resumable-upload.ts); its errors read as this storage's PutObject errors. */
  multipartTarget(key: string): MultipartTarget {
    return { client: this.client, bucket: this.bucket, key, fail: (err) => this.fail(err, "PutObject", key) };
  }

  /** Closes the client's sockets. */
  destroy(): void {
    this.client.destroy();
  }

  private fail(err: unknown, op: StorageOperation, key: string): Error {
    if (err instanceof AppError) return err;
    return mapS3Error(err, op, this.target, key);
  }
}
