// The test command: starts one throwaway PostgreSQL for the whole run (each test makes its own
// database in it), then runs every test/**/*.test.ts file with Node's test runner.
import { spawn } from "node:child_process";
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

const child = spawn(
  process.execPath,
  ["--import", "tsx", "--test", "--test-reporter=spec", "--test-timeout=300000", `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 2}`, ...files.map((f) => path.relative(root, f))],
  { cwd: root, stdio: "inherit", env: { ...process.env, LOG_LEVEL: process.env.LOG_LEVEL ?? "silent" } },
);
const forward = (sig) => child.kill(sig);
process.on("SIGINT", forward);
process.on("SIGTERM", forward);
const code = await new Promise((resolve) => child.on("exit", (c, s) => resolve(c ?? (s ? 1 : 0))));
await pg?.stop();
process.exit(code);
