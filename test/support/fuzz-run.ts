import dns from "node:dns";
import fc from "fast-check";
import { ERROR_REASONS } from "../../src/errors.ts";

// Shared machinery of the fuzz suite (test/integration/fuzz-*.test.ts): the seed and run count, a
// property runner whose failure names the seed and the counterexample, the check that an error answer
// is one the API documents, and guards that keep a fuzzed server from reaching anything but loopback.
//
//   FUZZ_SEED=<int>   the base seed (default below); each property derives its own from it and its name
//   FUZZ_RUNS=<int>   generated inputs per property (default 30); raise it for a longer hunt

export const FUZZ_SEED = Number.parseInt(process.env.FUZZ_SEED ?? "", 10) || 20261313;
export const FUZZ_RUNS = Math.max(1, Number.parseInt(process.env.FUZZ_RUNS ?? "", 10) || 30);

/** A stable per-property seed, so properties do not all draw the same inputs yet one FUZZ_SEED replays them all. */
export function seedFor(name: string): number {
  let h = FUZZ_SEED | 0;
  for (const ch of name) h = (Math.imul(h, 31) + ch.charCodeAt(0)) | 0;
  return h;
}

/**
 * fc.assert with the suite's seed and run count. On failure the thrown error carries fast-check's own
 * report (seed, path, shrunk counterexample, the error it raised) plus how to replay the whole suite.
 */
export async function assertProperty<Ts extends [unknown, ...unknown[]]>(
  name: string,
  property: fc.IAsyncProperty<Ts>,
  runs = FUZZ_RUNS,
): Promise<void> {
  const seed = seedFor(name);
  try {
    await fc.assert(property, { seed, numRuns: runs });
  } catch (err) {
    const report = (err as Error).message;
    throw new Error(
      `fuzz property "${name}" failed; replay with FUZZ_SEED=${FUZZ_SEED} FUZZ_RUNS=${FUZZ_RUNS} (property seed ${seed})\n${report}`,
      { cause: err },
    );
  }
}

/** What fast-check prints for a generated value: long texts are cut (the seed replays them in full). */
export function shown<T extends object>(value: T, label: string): T {
  Object.defineProperty(value, fc.toStringMethod, { value: () => label, enumerable: false });
  return value;
}

export const clip = (s: string, max = 160): string => (s.length <= max ? s : `${s.slice(0, max - 40)}…(${s.length} chars)…${s.slice(-30)}`);

/** The statuses the API documents for a client mistake (src/errors.ts ERROR_REASONS, below 500). */
export const DOCUMENTED_4XX = new Set<number>(Object.values(ERROR_REASONS).filter((s) => s < 500));

/**
 * Throws unless `status`/`text` is a 2xx or a documented 4xx with the error body the API promises:
 * `{code: <status>, message, details: string[], reason, origin}`, `reason` mapping to the same status.
 */
export function checkHttpAnswer(what: string, status: number, contentType: string | null, text: string): void {
  const fail = (why: string) => {
    throw new Error(`${what} → ${status} ${contentType ?? "(no content-type)"} ${clip(JSON.stringify(text), 400)}: ${why}`);
  };
  if (status >= 200 && status < 300) return;
  if (status >= 500) fail("a server error: a client mistake must be a 4xx");
  if (!DOCUMENTED_4XX.has(status)) fail(`status ${status} is not one the API documents (${[...DOCUMENTED_4XX].join(", ")})`);
  if (!contentType?.includes("application/json")) fail("an error answer must be JSON");
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text);
  } catch {
    return fail("the body is not JSON");
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) return fail("the error body must be an object");
  if (body.code !== status) fail("body.code must equal the HTTP status");
  if (typeof body.message !== "string" || body.message === "") fail("body.message must be a non-empty string");
  if (!Array.isArray(body.details) || !body.details.every((d) => typeof d === "string")) fail("body.details must be an array of strings");
  const reason = body.reason as keyof typeof ERROR_REASONS;
  if (typeof reason !== "string" || !Object.hasOwn(ERROR_REASONS, reason)) fail("body.reason must be one of ERROR_REASONS");
  if (ERROR_REASONS[reason] !== status) fail(`body.reason ${reason} documents status ${ERROR_REASONS[reason]}, not ${status}`);
  if (body.origin !== "client" && body.origin !== "destination") fail("body.origin of a 4xx must be client or destination");
}

/** Names the fuzzed server may resolve; anything else is refused (and remembered) for the test's life. */
export function guardOutboundLookups(): { refused: string[]; restore(): void } {
  const original = dns.lookup;
  const refused: string[] = [];
  const loopback = (host: string) => host === "localhost" || host.endsWith(".localhost") || /^127\./.test(host) || host === "::1";
  const guarded = ((host: string, options: unknown, callback?: unknown) => {
    const cb = (typeof options === "function" ? options : callback) as (err: Error | null, ...rest: unknown[]) => void;
    if (loopback(host)) return (original as (...a: unknown[]) => void).call(dns, host, options, callback);
    refused.push(host);
    const err = Object.assign(new Error(`fuzz guard: only loopback may be contacted (lookup of ${host} refused)`), {
      code: "ENOTFOUND",
      hostname: host,
    });
    process.nextTick(() => cb(err));
  }) as typeof dns.lookup;
  dns.lookup = guarded;
  return {
    refused,
    restore: () => {
      dns.lookup = original;
    },
  };
}

const watchedPrototypes = {
  "Object.prototype": Object.prototype,
  "Array.prototype": Array.prototype,
  "Function.prototype": Function.prototype,
  "String.prototype": String.prototype,
};

/** The own keys of the built-in prototypes now; compare with `prototypePollution(before)` after a run. */
export function snapshotPrototypes(): Record<string, string[]> {
  return Object.fromEntries(Object.entries(watchedPrototypes).map(([name, p]) => [name, Reflect.ownKeys(p).map(String).sort()]));
}

/** What changed on the built-in prototypes since `before`, and what a fresh `{}` or `[]` now inherits that it should not. */
export function prototypePollution(before: Record<string, string[]>): string[] {
  const problems: string[] = [];
  const now = snapshotPrototypes();
  for (const [name, keys] of Object.entries(now)) {
    const added = keys.filter((k) => !before[name].includes(k));
    if (added.length) problems.push(`${name} gained ${added.join(", ")}`);
  }
  const fresh: Record<string, unknown> = {};
  for (const key in fresh) problems.push(`a fresh {} enumerates ${key}`);
  for (const key in []) problems.push(`a fresh [] enumerates ${key}`);
  for (const key of ["polluted", "isAdmin", "fuzzed"])
    if ((fresh as Record<string, unknown>)[key] !== undefined) problems.push(`({}).${key} is ${String(fresh[key])}`);
  return problems;
}
