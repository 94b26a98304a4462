import { createHash, randomUUID } from "node:crypto";
import path from "node:path";
import type { Config } from "../config/config.ts";
import type { AppIdentity } from "../config/identity.ts";
import { SecretBox } from "../crypto/secret-box.ts";
import type { UploadConfig } from "../domain/upload-config.ts";
import { AppError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { outboundPolicy, type OutboundPolicy } from "../net/outbound-policy.ts";
import { DestinationError, type DestinationFailure } from "./destination-errors.ts";
import { InternalS3Storage } from "./internal-s3.storage.ts";
import { LocalStorage } from "./local.storage.ts";
import { S3Sweeper } from "./s3-sweeper.ts";
import { S3Storage } from "./s3.storage.ts";
import type { ObjectStorage } from "./storage.ts";
import { type ScheduledSweeper, Sweeper, type SweepResult, type SweepStartOptions } from "./sweeper.ts";
import { validateDestination, type ValidationReport } from "./validate.ts";

// The storage entry point for the rest of tapedeck: the internal bucket, destinations opened from an
// `UploadConfig` or from a `recording_assets.location` (sealed JSON or `internal`), and the sweeper.
// The internal bucket is `<data dir>/bucket` (LocalStorage, links served by internal-bucket.routes.ts),
// or, with TAPEDECK_BUCKET, a prefix in an S3-protocol bucket that several nodes share
// (InternalS3Storage, presigned links of the store itself); each has its own retention sweeper.

export const INTERNAL_LOCATION = "internal";
const MAX_CACHED_CLIENTS = 32;

export interface StorageServiceDeps {
  config: Config;
  identity: AppIdentity;
  box: SecretBox;
  log: Logger;
}

export class StorageService {
  /** The internal bucket, where recordings go when no destination is configured. */
  readonly internal: LocalStorage | InternalS3Storage;
  /** The internal bucket when it is on this node's disk (its links are served by this server), else null. */
  readonly local: LocalStorage | null;
  private readonly sweeper: ScheduledSweeper;
  /** S3 clients keep connection pools: one per distinct destination, oldest evicted first. */
  private readonly clients = new Map<string, S3Storage>();
  /** Which addresses destinations may be reached at (TAPEDECK_OUTBOUND_DENY / _ALLOW). */
  readonly outbound: OutboundPolicy;

  constructor(private readonly deps: StorageServiceDeps) {
    this.outbound = outboundPolicy(deps.config.outbound);
    const schedule = {
      retentionMs: deps.config.retentionMs,
      intervalMs: deps.config.sweepIntervalMs,
      log: deps.log.child({ component: "storage-sweeper" }),
    };
    if (deps.config.bucket) {
      const bucket = new InternalS3Storage(deps.config.bucket);
      this.internal = bucket;
      this.local = null;
      this.sweeper = new S3Sweeper({ ...schedule, storage: bucket.s3, prefix: bucket.keyPrefix });
    } else {
      const root = path.join(deps.config.dataDir, "bucket");
      this.local = new LocalStorage({ root, publicUrl: () => deps.config.publicUrl, signingKey: deps.identity.urlSigningKey });
      this.internal = this.local;
      this.sweeper = new Sweeper({ ...schedule, root });
    }
  }

  /** The storage for a destination; null means the internal bucket. */
  open(upload: UploadConfig | null): ObjectStorage {
    if (!upload) return this.internal;
    // The cache key is a digest, so secrets are not kept as map keys in the clear.
    const id = createHash("sha256").update(JSON.stringify(upload)).digest("hex");
    const cached = this.clients.get(id);
    if (cached) {
      this.clients.delete(id);
      this.clients.set(id, cached);
      return cached;
    }
    const storage = new S3Storage(upload, undefined, this.outbound);
    this.clients.set(id, storage);
    if (this.clients.size > MAX_CACHED_CLIENTS) {
      const [oldestId, oldest] = this.clients.entries().next().value as [string, S3Storage];
      this.clients.delete(oldestId);
      oldest.destroy();
    }
    return storage;
  }

  /** Probes a destination (upload, download, delete) under its prefix (the customer id when empty). */
  async validate(upload: UploadConfig): Promise<ValidationReport> {
    // A custom endpoint the policy refuses is the caller's mistake (400), said before anything is probed.
    await this.checkEndpoint(upload);
    const storage = new S3Storage(upload, undefined, this.outbound);
    try {
      const report = await validateDestination(storage, { prefix: upload.prefix || this.deps.identity.customerId });
      this.deps.log.info(
        {
          type: upload.type,
          bucket: upload.location,
          valid: report.valid,
          checks: report.checks.map((c) => `${c.step}:${c.ok ? "ok" : "failed"}`),
        },
        "storage destination validated",
      );
      return report;
    } finally {
      storage.destroy();
    }
  }

  /** 400 when the destination's custom endpoint is, or resolves now to, an address the outbound policy refuses. */
  async checkEndpoint(upload: Pick<UploadConfig, "options">): Promise<void> {
    if (upload.options.endpoint) await this.outbound.checkUrl(upload.options.endpoint, "storage endpoint");
  }

  /** What `recording_assets.location` stores: `internal`, or the destination sealed with the app's key. */
  sealLocation(upload: UploadConfig | null): string {
    return upload ? this.deps.box.sealJson(upload) : INTERNAL_LOCATION;
  }

  openLocation(location: string): ObjectStorage {
    if (location === INTERNAL_LOCATION) return this.internal;
    if (!SecretBox.isSealed(location)) {
      throw new AppError("internal", "stored asset location is neither 'internal' nor a sealed destination");
    }
    let upload: UploadConfig;
    try {
      upload = this.deps.box.openJson<UploadConfig>(location);
    } catch (err) {
      throw new AppError("internal", "stored asset location cannot be opened with this server's encryption key", { cause: err });
    }
    return this.open(upload);
  }

  /**
   * Starts retention: a pass now and every TAPEDECK_SWEEP_INTERVAL_SECONDS. `shouldSweep` is asked before
   * each of those passes (false skips it), so that a cluster sweeps its shared bucket from one node.
   */
  start(opts: SweepStartOptions = {}): void {
    this.sweeper.start(opts);
  }

  async stop(): Promise<void> {
    await this.sweeper.stop();
    for (const s of this.clients.values()) s.destroy();
    this.clients.clear();
    if (this.internal instanceof InternalS3Storage) this.internal.destroy();
  }

  /** For tests and operators: one retention pass now (not gated). */
  sweepOnce(now?: number): Promise<SweepResult> {
    return this.sweeper.sweepOnce(now);
  }

  /** One pass as the timer runs it: null when the gate given to `start` said no. */
  scheduledSweep(now?: number): Promise<SweepResult | null> {
    return this.sweeper.scheduledPass(now);
  }
}

/** What to change when the internal bucket's store refuses, by what it said. */
const BUCKET_FIXES: Partial<Record<DestinationFailure, string>> = {
  bad_secret: "check TAPEDECK_BUCKET_ACCESS_KEY and TAPEDECK_BUCKET_SECRET_KEY",
  unknown_key: "check TAPEDECK_BUCKET_ACCESS_KEY and TAPEDECK_BUCKET_SECRET_KEY",
  no_credentials: "set TAPEDECK_BUCKET_ACCESS_KEY and TAPEDECK_BUCKET_SECRET_KEY (or give the process default AWS credentials)",
  no_bucket: "check the bucket name in TAPEDECK_BUCKET (tapedeck does not create it) and TAPEDECK_BUCKET_REGION",
  wrong_region: "set TAPEDECK_BUCKET_REGION to the bucket's region",
  unreachable: "check TAPEDECK_BUCKET_ENDPOINT and that this node can connect to it",
  access_denied: "grant the key put, get, list and delete on the bucket under the prefix",
};

/**
 * At boot, with TAPEDECK_BUCKET: writes, reads back, lists and deletes a small object under the prefix,
 * the four things tapedeck does with the bucket, and refuses to start (an error naming TAPEDECK_BUCKET
 * and the endpoint) when one fails. Nothing to check for the local bucket.
 */
export async function checkInternalBucket(storage: Pick<StorageService, "internal">, log: Logger): Promise<void> {
  const bucket = storage.internal;
  if (!(bucket instanceof InternalS3Storage)) return;
  const started = Date.now();
  const s3 = bucket.s3;
  // Not under a customer id, so no recording key can collide with it; the sweeper would remove a leftover.
  const key = `${bucket.keyPrefix}.tapedeck-boot-check/${randomUUID()}`;
  const body = `tapedeck boot check ${new Date().toISOString()}`;
  let step = "upload";
  try {
    await s3.put(key, body, { contentType: "text/plain" });
    step = "download";
    const read = await streamText(await s3.get(key));
    if (read !== body) throw new AppError("internal", `the object read back differs from the one written (${read.length} bytes)`);
    step = "list";
    await s3.listPage(key, undefined, 1);
    step = "delete";
    await s3.delete(key);
  } catch (err) {
    // Best effort: a probe left by a failed read or list is also removed by the sweeper, in time.
    if (step !== "upload") await s3.delete(key).catch(() => undefined);
    const failure = err instanceof DestinationError ? err.failure : undefined;
    const fix =
      (failure && BUCKET_FIXES[failure]) ?? "check TAPEDECK_BUCKET, TAPEDECK_BUCKET_ENDPOINT, TAPEDECK_BUCKET_REGION and the keys";
    throw new AppError(
      "internal",
      `the internal bucket TAPEDECK_BUCKET=${bucket.setting} at ${s3.target.endpoint} cannot be used (${step} failed): ${(err as Error).message}; ${fix}`,
      { details: err instanceof AppError ? err.details : [], cause: err },
    );
  }
  log.info({ bucket: bucket.setting, endpoint: s3.target.endpoint, ms: Date.now() - started }, "internal bucket checked");
}

async function streamText(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks).toString("utf8");
}
