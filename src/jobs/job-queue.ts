import type { Db } from "../db/database.ts";
import type { JobRow } from "../db/schema.ts";
import { AppError } from "../errors.ts";
import { newObjectId, nowIso } from "../ids.ts";
import type { Logger } from "../log.ts";
import { backoffDelayMs } from "../webhooks/backoff.ts";

// The embedded job queue, persisted in the database: every job has an idempotency key; workers claim
// due jobs with a lease (a conditional UPDATE, safe with several processes on one database), retry
// failures with backoff until the job is `maxAgeMs` old, then mark it failed and call `onFailed`.

export const JOB_TYPES = ["upload-track"] as const;
export type JobType = (typeof JOB_TYPES)[number];

export interface JobContext {
  job: JobRow;
  attempt: number;
  log: Logger;
}

export interface JobHandler {
  run(payload: any, ctx: JobContext): Promise<void>;
  /** After the last attempt failed (the error is the last one). */
  onFailed?(payload: any, error: string, ctx: JobContext): Promise<void>;
}

export const RETRY_DELAYS_MS = [5_000, 15_000, 60_000, 300_000, 900_000, 3_600_000];
/** Failed uploads are kept and retried for 7 days (as 100ms keeps them). */
export const DEFAULT_MAX_AGE_MS = 7 * 86_400_000;
const LEASE_MS = 10 * 60_000;

export async function enqueueJob(db: Db, job: { type: JobType; key: string; payload: unknown; runAt?: Date }): Promise<void> {
  const now = nowIso();
  await db
    .insertInto("jobs")
    .values({
      id: newObjectId(), type: job.type, key: job.key, payload: JSON.stringify(job.payload), state: "pending", attempts: 0,
      run_at: (job.runAt ?? new Date()).toISOString(), locked_until: null, last_error: null, created_at: now, updated_at: now,
    })
    .onConflict((oc) => oc.column("key").doNothing())
    .execute();
}

export interface JobRunnerOptions {
  db: Db;
  handlers: Partial<Record<JobType, JobHandler>>;
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

  constructor(opts: JobRunnerOptions) {
    this.o = { pollMs: 1000, concurrency: 2, retryDelaysMs: RETRY_DELAYS_MS, maxAgeMs: DEFAULT_MAX_AGE_MS, ...opts };
  }

  /** Refuses to start while the queue holds jobs no handler can run (a deployment missing a role). */
  async start(): Promise<void> {
    const types = await this.o.db.selectFrom("jobs").select("type").distinct().where("state", "in", ["pending", "running"]).execute();
    const orphan = types.map((t) => t.type).filter((t) => !this.o.handlers[t as JobType]);
    if (orphan.length) throw new AppError("internal", `queued jobs have no handler in this process: ${orphan.join(", ")}`);
    this.running = true;
    this.wake(0);
  }

  kick(): void {
    if (this.running) this.wake(0);
  }

  async stop(): Promise<void> {
    this.running = false;
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
    this.pumping = (async () => {
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
      } finally {
        this.pumping = undefined;
        if (this.running) this.wake(this.o.pollMs);
      }
    })();
    await this.pumping;
  }

  private async claim(): Promise<JobRow | null> {
    const now = nowIso();
    const types = Object.keys(this.o.handlers);
    const due = await this.o.db
      .selectFrom("jobs").selectAll()
      .where("type", "in", types.length ? types : [""])
      .where((eb) => eb.or([eb("state", "=", "pending"), eb.and([eb("state", "=", "running"), eb("locked_until", "<", now)])]))
      .where("run_at", "<=", now)
      .orderBy("run_at").limit(1).executeTakeFirst();
    if (!due) return null;
    const res = await this.o.db
      .updateTable("jobs")
      .set({ state: "running", attempts: due.attempts + 1, locked_until: new Date(Date.now() + LEASE_MS).toISOString(), updated_at: now })
      .where("id", "=", due.id).where("attempts", "=", due.attempts)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) === 1 ? { ...due, attempts: due.attempts + 1, state: "running" } : this.claim();
  }

  private async execute(job: JobRow): Promise<void> {
    const log = this.o.log.child({ job_id: job.id, job_type: job.type, attempt: job.attempts });
    const handler = this.o.handlers[job.type as JobType]!;
    const payload = JSON.parse(job.payload);
    const ctx = { job, attempt: job.attempts, log };
    try {
      await handler.run(payload, ctx);
      await this.o.db.updateTable("jobs").set({ state: "done", locked_until: null, last_error: null, updated_at: nowIso() }).where("id", "=", job.id).execute();
      log.info("job done");
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const age = Date.now() - Date.parse(job.created_at);
      const delay = backoffDelayMs(this.o.retryDelaysMs, job.attempts);
      if (age + delay > this.o.maxAgeMs) {
        log.error({ err: message }, "job failed for good");
        await this.o.db.updateTable("jobs").set({ state: "failed", locked_until: null, last_error: message, updated_at: nowIso() }).where("id", "=", job.id).execute();
        await handler.onFailed?.(payload, message, ctx).catch((e) => log.error({ err: e }, "job failure hook failed"));
        return;
      }
      log.warn({ err: message, retry_in_ms: delay }, "job failed; will retry");
      await this.o.db
        .updateTable("jobs")
        .set({ state: "pending", locked_until: null, last_error: message, run_at: new Date(Date.now() + delay).toISOString(), updated_at: nowIso() })
        .where("id", "=", job.id).execute();
    }
  }
}
