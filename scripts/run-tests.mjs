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

// Two phases. First every unit and integration file, two at a time; then the end-to-end files one at a
// time: they drive real Chromium peers and whole tapedeck processes, and on two cores a browser starved
// by a neighbouring test file stops sending audio or answering ICE consent checks, which is the
// machine failing, not tapedeck.
//
// A test that hangs fails after 3 minutes; a file whose tests are done exits even if something of its
// own is still open (--test-force-exit). The run as a whole has a limit too (TEST_RUN_LIMIT_MINUTES,
// default 29, under the 30 minutes CI allows): past it, every process of the run (test files, browsers, ffmpeg) is killed, with the
// files still running named, rather than a CI job that never ends.
const isE2e = (f) => f.includes(`${path.sep}test${path.sep}e2e${path.sep}`);
const phases = [
  { files: files.filter((f) => !isE2e(f)), concurrency: process.env.TEST_CONCURRENCY ?? 2 },
  { files: files.filter(isE2e), concurrency: 1 },
].filter((p) => p.files.length > 0);

let current = null;
const killGroup = (sig) => {
  if (!current) return;
  try {
    process.kill(-current.pid, sig);
  } catch {
    /* already gone */
  }
};
const limitMinutes = Number(process.env.TEST_RUN_LIMIT_MINUTES ?? 29);
let overLimit = false;
const watchdog = setTimeout(() => {
  overLimit = true;
  let running = "";
  try {
    running = execFileSync("ps", ["-o", "args=", "--ppid", String(current?.pid)], { encoding: "utf8" })
      .split("\n")
      .map((l) => l.match(/(test\/\S+\.test\.ts)/)?.[1])
      .filter(Boolean)
      .join(", ");
  } catch {
    /* ps found nothing */
  }
  console.error(
    `\ntest run stopped: over its limit of ${limitMinutes} minutes (TEST_RUN_LIMIT_MINUTES); still running: ${running || "(none found)"}`,
  );
  killGroup("SIGKILL");
}, limitMinutes * 60_000);
process.on("SIGINT", () => killGroup("SIGINT"));
process.on("SIGTERM", () => killGroup("SIGTERM"));

let code = 0;
for (const phase of phases) {
  if (overLimit) break;
  current = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "--test",
      "--test-reporter=spec",
      "--test-timeout=180000",
      "--test-force-exit",
      `--test-concurrency=${phase.concurrency}`,
      ...phase.files.map((f) => path.relative(root, f)),
    ],
    { cwd: root, stdio: "inherit", detached: true, env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? "silent" } },
  );
  const c = await new Promise((resolve) => current.on("exit", (c, s) => resolve(c ?? (s ? 1 : 0))));
  // Whatever a test left behind (a browser, an ffmpeg) goes with its phase.
  killGroup("SIGKILL");
  if (c !== 0) code = c;
}
clearTimeout(watchdog);
if (overLimit) code = 1;
await pg?.stop();
process.exit(code);
