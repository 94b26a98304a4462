import fsp from "node:fs/promises";
import path from "node:path";
import type { Logger } from "../log.ts";

// Retention for the internal bucket: files whose mtime is older than `retentionMs` are deleted, then
// the folders left empty. Runs once at start and every `intervalMs`; runs never overlap.

export interface SweepResult {
  deletedFiles: number;
  deletedBytes: number;
  deletedFolders: number;
  keptFiles: number;
  errors: number;
}

export interface SweeperOptions {
  root: string;
  retentionMs: number;
  intervalMs: number;
  log: Logger;
}

export class Sweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<SweepResult> | undefined;

  constructor(private readonly opts: SweeperOptions) {}

  start(): void {
    if (this.timer) return;
    const tick = (): void => {
      this.sweepOnce().catch((err: unknown) => this.opts.log.error({ err }, "internal bucket sweep failed"));
    };
    this.timer = setInterval(tick, this.opts.intervalMs);
    this.timer.unref();
    tick();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => undefined);
  }

  /** One pass; if a pass is already running, waits for it instead of starting another. */
  sweepOnce(now: number = Date.now()): Promise<SweepResult> {
    if (!this.running) {
      this.running = this.sweep(now).finally(() => {
        this.running = undefined;
      });
    }
    return this.running;
  }

  private async sweep(now: number): Promise<SweepResult> {
    const started = Date.now();
    const result: SweepResult = { deletedFiles: 0, deletedBytes: 0, deletedFolders: 0, keptFiles: 0, errors: 0 };
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
