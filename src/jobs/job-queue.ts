import type { Db } from "../db/database.ts";
import type { JobRow } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { newObjectId, nowIso } from "../ids.ts";
import type { Logger } from "../log.ts";
import { isJobType, readJobPayload, type JobPayloads, type JobType } from "./job-payloads.ts";
import { backoffDelayMs } from "../util/backoff.ts";
import { pinNode } from "../config/local-node.ts";

// The embedded job queue, persisted in the database: every job has an idempotency key; workers claim
// due jobs with a lease (a conditional UPDATE, safe with several processes on one database), retry
// failures with backoff until the job is `maxAgeMs` old, then mark it failed and call `onFailed`.

export { JOB_TYPES, type JobPayloads, type JobType } from "./job-payloads.ts";

export interface JobContext {
  job: JobRow;
  attempt: number;
  log: Logger;
  /** Aborted when the runner stops (shutdown): pass it to long work; the job runs again on the next start. */
  signal: AbortSignal;
}

export interface JobHandler<P> {
  run(payload: P, ctx: JobContext): Promise<void>;
  /**
   * After the last attempt failed, with the error that attempt threw, as thrown (an UploadError, a
   * MediaProcessError…): the handler turns it into the failure it reports.
   */
  onFailed?(payload: P, error: unknown, ctx: JobContext): Promise<void>;
}

/** The handler of every job type, each typed by its payload. */
export type JobHandlers = { [T in JobType]: JobHandler<JobPayloads[T]> };

/**
 * Thrown by a handler when no retry can help (a job taken over from a dead node whose files died with
 * it): the job fails now, with its failure hook, instead of retrying for days.
 */
export class JobGaveUp extends Error {
  override readonly name = "JobGaveUp";
}

export const RETRY_DELAYS_MS = [5_000, 15_000, 60_000, 300_000, 900_000, 3_600_000];
/** Failed uploads are kept and retried for 7 days (as 100ms keeps them). */
export const DEFAULT_MAX_AGE_MS = 7 * 86_400_000;
/** A claimed job is someone else's after this long without its lease being renewed (a crashed worker). */
const LEASE_MS = 2 * 60_000;

/**
 * Queues a job once per key. In a cluster it is pinned to the node queuing it (pinNode): most jobs
 * read files only that node has; a worker elsewhere takes it over only once that node is dead. A job
 * that reads only the bucket and the database (`anyNode`) is pinned to none: any worker may run it.
 */
export async function enqueueJob<T extends JobType>(
  db: Db,
  job: { type: T; key: string; payload: JobPayloads[T]; runAt?: Date; anyNode?: boolean },
): Promise<void> {
  const now = nowIso();
  await db
    .insertInto("jobs")
    .values({
      id: newObjectId(),
      type: job.type,
      key: job.key,
      payload: JSON.stringify(job.payload),
      state: "pending",
      attempts: 0,
      run_at: (job.runAt ?? new Date()).toISOString(),
      locked_until: null,
      last_error: null,
      created_at: now,
      updated_at: now,
      node_id: job.anyNode ? null : pinNode(),
    })
    .onConflict((oc) => oc.column("key").doNothing())
    .execute();
}

export interface JobRunnerOptions {
  db: Db;
  /**
   * In a cluster: this node's id, and which jobs it claims: `all` (a worker: unpinned jobs, its own, and
   * those of dead nodes) or `own` (a node without the worker role: only the jobs pinned to it, which read
   * its spool). Outside a cluster: null, every job.
   */
  node?: { id: string; claims: "all" | "own" } | null;
  dialect?: "sqlite" | "postgres";
  handlers: Partial<JobHandlers>;
  log: Logger;
  pollMs?: number;
  concurrency?: number;
  retryDelaysMs?: number[];
  maxAgeMs?: number;
}

export class JobRunner {
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private pumping: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly o: Required<JobRunnerOptions>;
  private readonly stopping = new AbortController();

  constructor(opts: JobRunnerOptions) {
    this.o = {
      pollMs: 1000,
      concurrency: 2,
      retryDelaysMs: RETRY_DELAYS_MS,
      maxAgeMs: DEFAULT_MAX_AGE_MS,
      node: null,
      dialect: "sqlite",
      ...opts,
    };
  }

  /** Refuses to start while the queue holds jobs no handler can run (a deployment missing a role). */
  async start(): Promise<void> {
    const types = await this.o.db.selectFrom("jobs").select("type").distinct().where("state", "in", ["pending", "running"]).execute();
    const orphan = types.map((t) => t.type).filter((t) => !isJobType(t) || !this.o.handlers[t]);
    if (orphan.length) throw new AppError("internal", `queued jobs have no handler in this process: ${orphan.join(", ")}`);
    this.running = true;
    this.wake(0);
  }

  kick(): void {
    if (this.running) this.wake(0);
  }

  /** Stops claiming, interrupts running jobs (they are queued again, not counted as failed) and waits for them. */
  async stop(): Promise<void> {
    this.running = false;
    this.stopping.abort();
    clearTimeout(this.timer);
    await this.pumping;
    await Promise.allSettled([...this.inFlight]);
  }

  /** Runs every due job (for tests); returns how many ran. */
  async runOnce(): Promise<number> {
    let n = 0;
    for (;;) {
      const job = await this.claim();
      if (!job) return n;
      await this.execute(job);
      n++;
    }
  }

  private wake(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.pump(), ms);
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    // `.finally` always runs after this assignment, even when the loop has nothing to do (every slot
    // busy): clearing `pumping` inside the loop's own body could run first and leave it set for good.
    this.pumping = this.fill().finally(() => {
      this.pumping = undefined;
      if (this.running) this.wake(this.o.pollMs);
    });
    await this.pumping;
  }

  /** Claims due jobs while a slot is free; each runs in the background. */
  private async fill(): Promise<void> {
    try {
      while (this.running && this.inFlight.size < this.o.concurrency) {
        const job = await this.claim();
        if (!job) break;
        const p = this.execute(job).finally(() => {
          this.inFlight.delete(p);
          if (this.running) this.wake(0);
        });
        this.inFlight.add(p);
      }
    } catch (err) {
      this.o.log.error({ err }, "job queue poll failed");
    }
  }

  /** Due jobs this runner may take: its types, and in a cluster the ones pinned to no node, to it, or to a dead node. */
  private due(db: Db, now: string) {
    const types = Object.keys(this.o.handlers);
    const node = this.o.node;
    return db
      .selectFrom("jobs")
      .selectAll()
      .where("type", "in", types.length ? types : [""])
      .where((eb) => eb.or([eb("state", "=", "pending"), eb.and([eb("state", "=", "running"), eb("locked_until", "<", now)])]))
      .where("run_at", "<=", now)
      .$if(node?.claims === "own", (q) => q.where("node_id", "=", node!.id))
      .$if(node?.claims === "all", (q) =>
        q.where((eb) =>
          eb.or([
            eb("node_id", "is", null),
            eb("node_id", "=", node!.id),
            eb("node_id", "in", eb.selectFrom("nodes").select("id").where("state", "=", "dead")),
          ]),
        ),
      )
      .orderBy("run_at")
      .limit(1);
  }

  private async claim(): Promise<JobRow | null> {
    const lockedUntil = () => new Date(Date.now() + LEASE_MS).toISOString();
    if (this.o.dialect === "postgres") {
      // PostgreSQL: the due row is locked while it is claimed, and rows other runners hold are skipped
      // (FOR UPDATE SKIP LOCKED), so N runners polling at once never wait for, or retry on, each other.
      return this.o.db.transaction().execute(async (trx) => {
        const now = nowIso();
        const due = await this.due(trx, now).forUpdate().skipLocked().executeTakeFirst();
        if (!due) return null;
        await trx
          .updateTable("jobs")
          .set({ state: "running", attempts: due.attempts + 1, locked_until: lockedUntil(), updated_at: now })
          .where("id", "=", due.id)
          .execute();
        return { ...due, attempts: due.attempts + 1, state: "running" as const };
      });
    }
    // SQLite (one writer at a time): a conditional UPDATE on the attempt count; a lost race tries the next.
    const now = nowIso();
    const due = await this.due(this.o.db, now).executeTakeFirst();
    if (!due) return null;
    const res = await this.o.db
      .updateTable("jobs")
      .set({ state: "running", attempts: due.attempts + 1, locked_until: lockedUntil(), updated_at: now })
      .where("id", "=", due.id)
      .where("attempts", "=", due.attempts)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1 ? { ...due, attempts: due.attempts + 1, state: "running" } : this.claim();
  }

  private async execute(job: JobRow): Promise<void> {
    const log = this.o.log.child({ job_id: job.id, job_type: job.type, attempt: job.attempts });
    // Only claimed types have a handler (see claim), so the lookup holds; the payload is checked.
    const type = job.type as JobType;
    const handler = this.o.handlers[type] as JobHandler<JobPayloads[JobType]>;
    let payload: JobPayloads[JobType];
    try {
      payload = readJobPayload(type, job.payload);
    } catch (err) {
      // No retry makes a corrupt payload valid: the job fails for good, without a failure hook (it has no payload to act on).
      const message = (err as Error).message;
      log.error({ err: message }, "job failed for good: its payload cannot be read");
      await this.o.db
        .updateTable("jobs")
        .set({ state: "failed", locked_until: null, last_error: message, updated_at: nowIso() })
        .where("id", "=", job.id)
        .execute();
      return;
    }
    const ctx = { job, attempt: job.attempts, log, signal: this.stopping.signal };
    // Long jobs (a composite of an hour-long session) renew their lease while they run.
    const renew = setInterval(() => {
      this.o.db
        .updateTable("jobs")
        .set({ locked_until: new Date(Date.now() + LEASE_MS).toISOString() })
        .where("id", "=", job.id)
        .where("state", "=", "running")
        .execute()
        .catch((err) => log.warn({ err }, "could not renew the job's lease"));
    }, LEASE_MS / 4);
    try {
      await handler.run(payload, ctx);
      await this.o.db
        .updateTable("jobs")
        .set({ state: "done", locked_until: null, last_error: null, updated_at: nowIso() })
        .where("id", "=", job.id)
        .execute();
      log.info("job done");
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      if (this.stopping.signal.aborted) {
        log.info({ err: message }, "job interrupted by shutdown; it runs again on the next start");
        await this.o.db
          .updateTable("jobs")
          .set({ state: "pending", attempts: job.attempts - 1, locked_until: null, run_at: nowIso(), updated_at: nowIso() })
          .where("id", "=", job.id)
          .execute();
        return;
      }
      const age = Date.now() - Date.parse(job.created_at);
      const delay = backoffDelayMs(this.o.retryDelaysMs, job.attempts);
      if (err instanceof JobGaveUp || age + delay > this.o.maxAgeMs) {
        log.error({ err: message }, "job failed for good");
        await this.o.db
          .updateTable("jobs")
          .set({ state: "failed", locked_until: null, last_error: message, updated_at: nowIso() })
          .where("id", "=", job.id)
          .execute();
        await handler.onFailed?.(payload, err, ctx).catch((e) => log.error({ err: e }, "job failure hook failed"));
        return;
      }
      log.warn({ err: message, retry_in_ms: delay }, "job failed; will retry");
      await this.o.db
        .updateTable("jobs")
        .set({
          state: "pending",
          locked_until: null,
          last_error: message,
          run_at: new Date(Date.now() + delay).toISOString(),
          updated_at: nowIso(),
        })
        .where("id", "=", job.id)
        .execute();
    } finally {
      clearInterval(renew);
    }
  }
}
