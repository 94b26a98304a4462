// The test command: starts one throwaway PostgreSQL for the whole run (each test makes its own
// database in it), then runs every test/**/*.test.ts file with Node's test runner.
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { startPostgres } from "./postgres.mjs";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const filters = process.argv.slice(2);

function findTests(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findTests(p));
    else if (entry.name.endsWith(".test.ts")) out.push(p);
  }
  return out.sort();
}

const files = findTests(path.join(root, "test")).filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(" ")}`);
  process.exit(1);
}

let pg;
if (!process.env.TAPEDECK_TEST_PG_URL) {
  pg = await startPostgres();
  process.env.TAPEDECK_TEST_PG_URL = pg.url;
  console.log(`PostgreSQL for tests at ${pg.url}`);
}

// A test that hangs fails after 3 minutes; a file whose tests are done exits even if something of its
// own is still open (--test-force-exit). The run as a whole has a limit too (TEST_RUN_LIMIT_MINUTES,
// default 25): past it, every process of the run (test files, browsers, ffmpeg) is killed, with the
// files still running named, rather than a CI job that never ends.
const child = spawn(
  process.execPath,
  [
    "--import", "tsx", "--test", "--test-reporter=spec", "--test-timeout=180000", "--test-force-exit",
    `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 2}`, ...files.map((f) => path.relative(root, f)),
  ],
  { cwd: root, stdio: "inherit", detached: true, env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? "silent" } },
);
const killGroup = (sig) => {
  try {
    process.kill(-child.pid, sig);
  } catch {
    /* already gone */
  }
};
const limitMinutes = Number(process.env.TEST_RUN_LIMIT_MINUTES ?? 25);
const watchdog = setTimeout(() => {
  let running = "";
  try {
    running = execFileSync("ps", ["-o", "args=", "--ppid", String(child.pid)], { encoding: "utf8" })
      .split("\n").map((l) => l.match(/(test\/\S+\.test\.ts)/)?.[1]).filter(Boolean).join(", ");
  } catch {
    /* ps found nothing */
  }
  console.error(`\ntest run stopped: over its limit of ${limitMinutes} minutes (TEST_RUN_LIMIT_MINUTES); still running: ${running || "(none found)"}`);
  killGroup("SIGKILL");
}, limitMinutes * 60_000);
const forward = (sig) => killGroup(sig);
process.on("SIGINT", forward);
process.on("SIGTERM", forward);
const code = await new Promise((resolve) => child.on("exit", (c, s) => resolve(c ?? (s ? 1 : 0))));
clearTimeout(watchdog);
// Whatever a test left behind (a browser, an ffmpeg) goes with the run.
killGroup("SIGKILL");
await pg?.stop();
process.exit(code);
