import type { Logger } from "../log.ts";

// A long-running process (the server, an SFU shard) logs a promise rejection nobody handled and keeps
// running, instead of Node's default of exiting. Library code runs some writes in callbacks whose
// promises nobody awaits: werift's WebM writer appends to the spool file that way, so a full disk or a
// spool folder removed under it would otherwise end every room on the machine, not just one recording
// (whose file is then found unreadable or short and reported as such).
export function logStrayRejections(log: Logger): void {
  let last = 0;
  let suppressed = 0;
  process.on("unhandledRejection", (reason) => {
    const now = Date.now();
    // One line a second at most: a writer failing on every packet must not flood the log.
    if (now - last < 1_000) {
      suppressed++;
      return;
    }
    last = now;
    const err = reason instanceof Error ? reason : new Error(String(reason));
    log.error({ err, suppressed }, "an operation failed with nobody to handle it; kept running");
    suppressed = 0;
  });
}
