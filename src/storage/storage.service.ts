import { createHash } from "node:crypto";
import path from "node:path";
import type { Config } from "../config/config.ts";
import type { AppIdentity } from "../config/identity.ts";
import { SecretBox } from "../crypto/secret-box.ts";
import type { UploadConfig } from "../domain/upload-config.ts";
import { AppError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { outboundPolicy, type OutboundPolicy } from "../net/outbound-policy.ts";
import { LocalStorage } from "./local.storage.ts";
import { S3Storage } from "./s3.storage.ts";
import type { ObjectStorage } from "./storage.ts";
import { Sweeper } from "./sweeper.ts";
import { validateDestination, type ValidationReport } from "./validate.ts";

// The storage entry point for the rest of tapedeck: the internal bucket, destinations opened from an
// `UploadConfig` or from a `recording_assets.location` (sealed JSON or `internal`), and the sweeper.

export const INTERNAL_LOCATION = "internal";
const MAX_CACHED_CLIENTS = 32;

export interface StorageServiceDeps {
  config: Config;
  identity: AppIdentity;
  box: SecretBox;
  log: Logger;
}

export class StorageService {
  readonly internal: LocalStorage;
  private readonly sweeper: Sweeper;
  /** S3 clients keep connection pools: one per distinct destination, oldest evicted first. */
  private readonly clients = new Map<string, S3Storage>();
  /** Which addresses destinations may be reached at (TAPEDECK_OUTBOUND_DENY / _ALLOW). */
  readonly outbound: OutboundPolicy;

  constructor(private readonly deps: StorageServiceDeps) {
    this.outbound = outboundPolicy(deps.config.outbound);
    const root = path.join(deps.config.dataDir, "bucket");
    this.internal = new LocalStorage({ root, publicUrl: () => deps.config.publicUrl, signingKey: deps.identity.urlSigningKey });
    this.sweeper = new Sweeper({
      root,
      retentionMs: deps.config.retentionMs,
      intervalMs: deps.config.sweepIntervalMs,
      log: deps.log.child({ component: "storage-sweeper" }),
    });
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

  start(): void {
    this.sweeper.start();
  }

  async stop(): Promise<void> {
    await this.sweeper.stop();
    for (const s of this.clients.values()) s.destroy();
    this.clients.clear();
  }

  /** For tests and operators: one retention pass now. */
  sweepOnce(now?: number): ReturnType<Sweeper["sweepOnce"]> {
    return this.sweeper.sweepOnce(now);
  }
}
