import type { S3Storage } from "./s3.storage.ts";
import { emptySweepResult, ScheduledSweeper, type ScheduleOptions, type SweepResult } from "./sweeper.ts";

// Retention for the internal bucket on an S3-protocol store (TAPEDECK_BUCKET): every object under the
// prefix whose LastModified is older than `retentionMs` is deleted. The listing is paged
// (ListObjectsV2) and each page's old objects are deleted at once (DeleteObjects), so memory stays flat
// however big the bucket is. S3 has no folders, so `deletedFolders` is always 0. Timing and the
// cluster gate are `ScheduledSweeper`'s, as for the local bucket.

/** What the sweep needs of the bucket (S3Storage; tests may give a bucket of their own). */
export type SweptBucket = Pick<S3Storage, "listPage" | "deleteMany" | "displayPath">;

export interface S3SweeperOptions extends ScheduleOptions {
  storage: SweptBucket;
  /** The key prefix swept: "" (the whole bucket) or `some/prefix/`. */
  prefix: string;
  /** Objects listed per request (at most 1000, the default). */
  pageSize?: number;
}

/** Refused deletes logged per pass, with their keys; the rest are only counted. */
const LOGGED_FAILURES = 5;

export class S3Sweeper extends ScheduledSweeper {
  constructor(private readonly opts: S3SweeperOptions) {
    super(opts);
  }

  protected async sweep(now: number): Promise<SweepResult> {
    const started = Date.now();
    const cutoff = now - this.opts.retentionMs;
    const result = emptySweepResult();
    let token: string | undefined;
    do {
      const page = await this.opts.storage.listPage(this.opts.prefix, token, this.opts.pageSize);
      const sizes = new Map<string, number>();
      for (const o of page.objects) {
        // An object the store gave no date for is kept: deleting on a guess would lose recordings.
        if (o.lastModified && o.lastModified.getTime() < cutoff) sizes.set(o.key, o.size);
        else result.keptFiles++;
      }
      if (sizes.size > 0) {
        const { deleted, failed } = await this.opts.storage.deleteMany([...sizes.keys()]);
        for (const key of deleted) {
          result.deletedFiles++;
          result.deletedBytes += sizes.get(key) ?? 0;
        }
        result.errors += failed.length;
        for (const f of failed.slice(0, LOGGED_FAILURES)) {
          this.opts.log.warn(
            { path: this.opts.storage.displayPath(f.key), code: f.code, reason: f.message },
            "internal bucket sweep could not remove an entry",
          );
        }
      }
      token = page.next;
    } while (token);
    this.opts.log.info(
      { ...result, ms: Date.now() - started, root: this.opts.storage.displayPath(this.opts.prefix) },
      "internal bucket swept",
    );
    return result;
  }
}
