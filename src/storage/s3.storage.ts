import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import http from "node:http";
import https from "node:https";
import { Readable, Transform } from "node:stream";
import { AppError } from "../errors.ts";
import { createGuardedAgent, DEFAULT_OUTBOUND_POLICY, type OutboundPolicy } from "../net/outbound-policy.ts";
import { displayPath, type UploadConfig, type UploadType } from "../domain/upload-config.ts";
import { mapS3Error, type DestinationTarget, type StorageOperation } from "./destination-errors.ts";
import { attachmentDisposition } from "./content-disposition.ts";
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
 * request and retry); the SDK never follows redirects (followRegionRedirects is off).
 */
export function createS3Client(
  upload: UploadConfig,
  settings: S3Settings = resolveS3Settings(upload),
  policy: OutboundPolicy = DEFAULT_OUTBOUND_POLICY,
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
      httpAgent: createGuardedAgent(policy, http.Agent, agentOptions),
      httpsAgent: createGuardedAgent(policy, https.Agent, agentOptions) as https.Agent,
    },
  });
}

export class S3Storage implements ObjectStorage {
  readonly kind: UploadType;
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly target: DestinationTarget;

  constructor(upload: UploadConfig, client?: S3Client, policy?: OutboundPolicy) {
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

  /** Closes the client's sockets. */
  destroy(): void {
    this.client.destroy();
  }

  private fail(err: unknown, op: StorageOperation, key: string): Error {
    if (err instanceof AppError) return err;
    return mapS3Error(err, op, this.target, key);
  }
}
