import fsp from "node:fs/promises";
import path from "node:path";
import type { Logger } from "../log.ts";

// Retention for the internal bucket. `ScheduledSweeper` is the timing both backends share: one pass at
// start and every `intervalMs`, passes never overlap, and an optional gate (`shouldSweep`) is asked
// before each timed pass, so that in a cluster only the node holding the sweep lease does the work.
// `Sweeper` is the local-disk pass: files whose mtime is older than `retentionMs` are deleted, then the
// folders left empty. The S3 pass is `S3Sweeper` (s3-sweeper.ts).

export interface SweepResult {
  deletedFiles: number;
  deletedBytes: number;
  deletedFolders: number;
  keptFiles: number;
  errors: number;
}

export const emptySweepResult = (): SweepResult => ({ deletedFiles: 0, deletedBytes: 0, deletedFolders: 0, keptFiles: 0, errors: 0 });

export interface SweepStartOptions {
  /**
   * Asked before each timed pass; false skips that pass (the next tick asks again). A gate that throws
   * skips the pass too, and is logged. Passes asked for with `sweepOnce` are not gated.
   */
  shouldSweep?: () => Promise<boolean>;
}

export interface ScheduleOptions {
  retentionMs: number;
  intervalMs: number;
  log: Logger;
}

export abstract class ScheduledSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<SweepResult> | undefined;
  /** Timed passes in progress (the gate may be slow: a lease query), so that `stop` waits for them. */
  private readonly passes = new Set<Promise<unknown>>();
  private gate: SweepStartOptions["shouldSweep"];

  constructor(protected readonly schedule: ScheduleOptions) {}

  /** One pass over the bucket: delete what is older than `now - retentionMs`, log the counts. */
  protected abstract sweep(now: number): Promise<SweepResult>;

  start(opts: SweepStartOptions = {}): void {
    if (this.timer) return;
    this.gate = opts.shouldSweep;
    const tick = (): void => {
      this.scheduledPass().catch((err: unknown) => this.schedule.log.error({ err }, "internal bucket sweep failed"));
    };
    this.timer = setInterval(tick, this.schedule.intervalMs);
    this.timer.unref();
    tick();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all([...this.passes].map((p) => p.catch(() => undefined)));
    await this.running?.catch(() => undefined);
  }

  /** One pass now, whatever the gate says; if a pass is already running, waits for it instead of starting another. */
  sweepOnce(now: number = Date.now()): Promise<SweepResult> {
    if (!this.running) {
      this.running = this.sweep(now).finally(() => {
        this.running = undefined;
      });
    }
    return this.running;
  }

  /** A pass as the timer runs it: the gate (given to `start`) is asked first; null when it said no. */
  scheduledPass(now?: number): Promise<SweepResult | null> {
    const pass = this.askGate().then((go) => (go ? this.sweepOnce(now) : null));
    this.passes.add(pass);
    void pass.finally(() => this.passes.delete(pass)).catch(() => undefined);
    return pass;
  }

  private async askGate(): Promise<boolean> {
    if (!this.gate) return true;
    let go: boolean;
    try {
      go = await this.gate();
    } catch (err) {
      this.schedule.log.warn({ err }, "internal bucket sweep skipped: the sweep gate failed");
      return false;
    }
    if (!go) this.schedule.log.debug("internal bucket sweep skipped: another node sweeps");
    return go;
  }
}

export interface SweeperOptions extends ScheduleOptions {
  root: string;
}

export class Sweeper extends ScheduledSweeper {
  constructor(private readonly opts: SweeperOptions) {
    super(opts);
  }

  protected async sweep(now: number): Promise<SweepResult> {
    const started = Date.now();
    const result = emptySweepResult();
    await this.sweepDir(this.opts.root, now - this.opts.retentionMs, result);
    this.opts.log.info({ ...result, ms: Date.now() - started, root: this.opts.root }, "internal bucket swept");
    return result;
  }

  /** Returns true when `dir` is empty afterwards. */
  private async sweepDir(dir: string, cutoff: number, result: SweepResult): Promise<boolean> {
    const entries = await fsp.readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return null;
      throw err;
    });
    if (!entries) return false;
    let remaining = entries.length;
    for (const entry of entries) {
      const p = path.join(dir, entry.name);
      try {
        if (entry.isDirectory()) {
          if (await this.sweepDir(p, cutoff, result)) {
            // rmdir fails if a writer created something since: the folder then stays.
            await fsp.rmdir(p);
            result.deletedFolders++;
            remaining--;
          }
          continue;
        }
        const st = await fsp.lstat(p);
        if (st.mtimeMs < cutoff) {
          await fsp.rm(p, { force: true });
          result.deletedFiles++;
          result.deletedBytes += st.size;
          remaining--;
        } else {
          result.keptFiles++;
        }
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT") {
          remaining--;
        } else if (code !== "ENOTEMPTY" && code !== "EEXIST") {
          result.errors++;
          this.opts.log.warn({ err, path: p }, "internal bucket sweep could not remove an entry");
        }
      }
    }
    return remaining === 0;
  }
}
