import type { WebhookDeliveryConfig } from "../config/config.ts";
import type { AppIdentity } from "../config/identity.ts";
import type { SecretBox } from "../crypto/secret-box.ts";
import type { Db } from "../db/database.ts";
import type { WebhookEventRow } from "../db/schema.ts";
import { newUuid } from "../ids.ts";
import type { Logger } from "../log.ts";
import { DEFAULT_OUTBOUND_POLICY, type OutboundPolicy } from "../net/outbound-policy.ts";
import { planRetry } from "../util/backoff.ts";
import { DUE_STATES } from "./events.ts";
import { postJson, type PostResult } from "./http-post.ts";
import { buildDeliveryHeaders } from "./signer.ts";
import { openSealedHeaders } from "./webhook-config.ts";

// Delivers the outbox. Any number of dispatchers (in one or many processes) may share a database:
// an event is claimed by a conditional UPDATE that sets a lease (`locked_until`) and only succeeds
// when no live lease exists, so one delivery runs at a time per event. If a process dies mid-delivery
// the lease runs out and another attempt follows: delivery is at-least-once and receivers dedupe by
// the envelope `id`. Rows are never deleted; each attempt is also written to `webhook_attempts`.

export interface DispatcherDeps {
  db: Db;
  identity: AppIdentity;
  box: SecretBox;
  config: WebhookDeliveryConfig;
  log: Logger;
  /** Deliveries in flight at once (default 4). */
  concurrency?: number;
  /** Which addresses deliveries may connect to (checked on every attempt); default: the built-in policy. */
  outbound?: OutboundPolicy;
}

export type AttemptOutcome = "delivered" | "retry" | "failed";

/** What one attempt did; given to `onAttempt` listeners (tests, metrics). */
export interface AttemptReport {
  eventId: string;
  type: string;
  attempt: number;
  replay: boolean;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  outcome: AttemptOutcome;
  nextAttemptAt: string | null;
  /** When the outcome was decided (the retry window is judged against this time). */
  decidedAt: string;
}

const LEASE_MARGIN_MS = 30_000;

export class WebhookDispatcher {
  private readonly db: Db;
  private readonly identity: AppIdentity;
  private readonly box: SecretBox;
  private readonly config: WebhookDeliveryConfig;
  private readonly log: Logger;
  private readonly concurrency: number;
  private readonly outbound: OutboundPolicy;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly listeners = new Set<(r: AttemptReport) => void>();
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private pumping: Promise<void> | undefined;
  private pumpAgain = false;

  constructor(deps: DispatcherDeps) {
    this.db = deps.db;
    this.identity = deps.identity;
    this.box = deps.box;
    this.config = deps.config;
    this.log = deps.log;
    this.concurrency = Math.max(1, deps.concurrency ?? 4);
    this.outbound = deps.outbound ?? DEFAULT_OUTBOUND_POLICY;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.wake(0);
  }

  /** Stops polling and waits for the deliveries in flight to finish and be recorded. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.pumping;
    await Promise.allSettled([...this.inFlight]);
  }

  /** Look for due events now (after an enqueue or a replay). */
  kick(): void {
    if (this.running) this.wake(0);
  }

  /** Delivers every event due now, waits for the attempts, and returns how many were made. */
  async runOnce(): Promise<number> {
    const until = new Date().toISOString();
    let count = 0;
    for (;;) {
      const batch: Promise<void>[] = [];
      for (const id of await this.findDue(until, this.concurrency)) {
        const row = await this.claim(id, until);
        if (row) batch.push(this.deliver(row));
      }
      if (batch.length === 0) return count;
      await Promise.all(batch);
      count += batch.length;
    }
  }

  /** Listen to every attempt's outcome. Returns an unsubscribe function. */
  onAttempt(listener: (r: AttemptReport) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private wake(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        void this.pump();
      },
      Math.max(0, delayMs),
    );
  }

  private async pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = (async () => {
      let nextWakeMs = this.config.pollMs;
      try {
        do {
          this.pumpAgain = false;
          await this.fillSlots();
        } while (this.pumpAgain && this.running);
        // With every slot busy, a finishing delivery kicks; otherwise sleep until the next due event.
        if (this.inFlight.size < this.concurrency) nextWakeMs = await this.msUntilNextDue();
      } catch (err) {
        this.log.error({ err }, "webhook dispatcher pass failed");
      }
      this.pumping = undefined;
      // A kick that came in after the last pass must not wait for the poll.
      if (this.running && !this.timer) this.wake(this.pumpAgain ? 0 : nextWakeMs);
    })();
    await this.pumping;
  }

  private async fillSlots(): Promise<void> {
    while (this.running && this.inFlight.size < this.concurrency) {
      const now = new Date().toISOString();
      const ids = await this.findDue(now, this.concurrency - this.inFlight.size);
      let claimed = 0;
      for (const id of ids) {
        if (!this.running || this.inFlight.size >= this.concurrency) break;
        const row = await this.claim(id, now);
        if (!row) continue;
        claimed++;
        const p: Promise<void> = this.deliver(row)
          .catch((err) => this.log.error({ err, event_id: row.id }, "webhook delivery bookkeeping failed"))
          .finally(() => {
            this.inFlight.delete(p);
            this.kick(); // a slot is free
          });
        this.inFlight.add(p);
      }
      if (claimed === 0) return;
    }
  }

  private async findDue(nowIso: string, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom("webhook_events")
      .select("id")
      .where("state", "in", DUE_STATES)
      .where("next_attempt_at", "<=", nowIso)
      .where((eb) => eb.or([eb("locked_until", "is", null), eb("locked_until", "<=", nowIso)]))
      .orderBy("next_attempt_at")
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  /** Takes the lease; undefined when another dispatcher got there first. Counts the attempt. */
  private async claim(id: string, nowIso: string): Promise<WebhookEventRow | undefined> {
    const lease = new Date(Date.now() + this.config.timeoutMs * 2 + LEASE_MARGIN_MS).toISOString();
    return this.db
      .updateTable("webhook_events")
      .set((eb) => ({ locked_until: lease, attempts: eb("attempts", "+", 1) }))
      .where("id", "=", id)
      .where("state", "in", DUE_STATES)
      .where("next_attempt_at", "<=", nowIso)
      .where((eb) => eb.or([eb("locked_until", "is", null), eb("locked_until", "<=", nowIso)]))
      .returningAll()
      .executeTakeFirst();
  }

  private async deliver(row: WebhookEventRow): Promise<void> {
    const startedAt = new Date();
    await this.record(row, startedAt, await this.post(row));
  }

  private async post(row: WebhookEventRow): Promise<PostResult> {
    const failed = (error: string): PostResult => ({ status: null, error, excerpt: null, durationMs: 0 });
    if (!row.url) return failed("no endpoint URL");
    let custom: Record<string, string>;
    try {
      custom = openSealedHeaders(row.headers, this.box);
    } catch (err) {
      this.log.error({ err, event_id: row.id }, "webhook headers could not be decrypted");
      return failed("stored headers could not be decrypted");
    }
    const headers = buildDeliveryHeaders({
      secret: this.identity.webhookSecret,
      body: row.body,
      eventId: row.id,
      eventType: row.type,
      attempt: row.attempts,
      custom,
    });
    return postJson(row.url, headers, row.body, this.config.timeoutMs, this.outbound);
  }

  private async record(row: WebhookEventRow, startedAt: Date, result: PostResult): Promise<void> {
    const replay = row.state === "replaying";
    const now = new Date();
    const delivered = result.error === null;
    let outcome: AttemptOutcome = "delivered";
    let nextAttemptAt: string | null = null;
    if (!delivered) {
      const window = replay ? { startMs: startedAt.getTime(), first: row.attempts } : await this.retryWindow(row);
      const plan = planRetry({
        backoffMs: this.config.backoffMs,
        retryForMs: this.config.retryForMs,
        windowStartMs: window.startMs,
        failedAttempt: row.attempts - window.first + 1,
        nowMs: now.getTime(),
      });
      outcome = plan.kind === "retry" ? "retry" : "failed";
      nextAttemptAt = plan.kind === "retry" ? new Date(plan.atMs).toISOString() : null;
    }
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto("webhook_attempts")
        .values({
          id: newUuid(),
          event_id: row.id,
          attempt: row.attempts,
          replay: replay ? 1 : 0,
          url: row.url ?? "",
          started_at: startedAt.toISOString(),
          duration_ms: result.durationMs,
          status_code: result.status,
          error: result.error,
          response_excerpt: result.excerpt,
        })
        .execute();
      // Only the holder of the lease moves the state; a replay queued meanwhile cleared it and wins.
      await trx
        .updateTable("webhook_events")
        .set({
          state: outcome === "delivered" ? "delivered" : outcome === "retry" ? "pending" : "failed",
          locked_until: null,
          last_status: result.status,
          last_error: result.error,
          ...(delivered ? { delivered_at: now.toISOString() } : {}),
          ...(nextAttemptAt ? { next_attempt_at: nextAttemptAt } : {}),
        })
        .where("id", "=", row.id)
        .where("locked_until", "=", row.locked_until)
        .execute();
    });
    const fields = {
      event_id: row.id,
      type: row.type,
      attempt: row.attempts,
      replay,
      status: result.status,
      error: result.error,
      ms: result.durationMs,
      host: hostOf(row.url),
    };
    if (outcome === "delivered") this.log.info(fields, "webhook delivered");
    else if (outcome === "retry") this.log.warn({ ...fields, next_attempt_at: nextAttemptAt }, "webhook attempt failed, will retry");
    else this.log.error(fields, "webhook delivery failed permanently");
    const report: AttemptReport = {
      eventId: row.id,
      type: row.type,
      attempt: row.attempts,
      replay,
      statusCode: result.status,
      error: result.error,
      durationMs: result.durationMs,
      outcome,
      nextAttemptAt,
      decidedAt: now.toISOString(),
    };
    for (const l of this.listeners) l(report);
  }

  /** Where the current delivery window began: the latest replay attempt, else the event's creation. */
  private async retryWindow(row: WebhookEventRow): Promise<{ startMs: number; first: number }> {
    const lastReplay = await this.db
      .selectFrom("webhook_attempts")
      .select(["attempt", "started_at"])
      .where("event_id", "=", row.id)
      .where("replay", "=", 1)
      .orderBy("attempt", "desc")
      .limit(1)
      .executeTakeFirst();
    return lastReplay
      ? { startMs: Date.parse(lastReplay.started_at), first: lastReplay.attempt }
      : { startMs: Date.parse(row.created_at), first: 1 };
  }

  private async msUntilNextDue(): Promise<number> {
    const row = await this.db
      .selectFrom("webhook_events")
      .select((eb) => eb.fn.min("next_attempt_at").as("next"))
      .where("state", "in", DUE_STATES)
      .where("locked_until", "is", null)
      .executeTakeFirst();
    const next = row?.next ? Date.parse(String(row.next)) - Date.now() : Infinity;
    return Math.min(this.config.pollMs, Math.max(0, next));
  }
}

function hostOf(url: string | null): string | null {
  if (!url) return null;
  try {
    return new URL(url).host;
  } catch {
    return null;
  }
}
