import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_BACKOFF_MS, loadConfig } from "../../src/config/config.ts";
import { attemptSchedule, backoffDelayMs, planRetry } from "../../src/util/backoff.ts";
import { WEBHOOK_EVENT_TYPES } from "../../src/domain/webhook-types.ts";
import { envelopeVersion } from "../../src/webhooks/events.ts";

test("backoff delay follows the list and repeats its last value", () => {
  const b = [50, 100, 400];
  assert.deepEqual(
    [1, 2, 3, 4, 10].map((n) => backoffDelayMs(b, n)),
    [50, 100, 400, 400, 400],
  );
  assert.equal(backoffDelayMs(b, 0), 50);
  assert.equal(backoffDelayMs([], 3), 0);
});

test("planRetry retries inside the window and gives up once the window has passed", () => {
  const base = { backoffMs: [50, 100], retryForMs: 120, windowStartMs: 1_000 };
  assert.deepEqual(planRetry({ ...base, failedAttempt: 1, nowMs: 1_000 }), { kind: "retry", atMs: 1_050, delayMs: 50 });
  assert.deepEqual(planRetry({ ...base, failedAttempt: 2, nowMs: 1_060 }), { kind: "retry", atMs: 1_160, delayMs: 100 });
  assert.deepEqual(planRetry({ ...base, failedAttempt: 3, nowMs: 1_120 }), { kind: "give_up" });
  assert.deepEqual(planRetry({ ...base, failedAttempt: 3, nowMs: 1_119 }), { kind: "retry", atMs: 1_219, delayMs: 100 });
});

test("the default schedule starts like 100ms (+1 s, +3 s, +10 s) and keeps trying for at least 24 hours", () => {
  const config = loadConfig({});
  assert.deepEqual(config.webhooks.backoffMs, DEFAULT_BACKOFF_MS);
  const at = attemptSchedule(config.webhooks.backoffMs, config.webhooks.retryForMs);
  assert.deepEqual(at.slice(0, 4), [0, 1_000, 4_000, 14_000]);
  const last = at[at.length - 1];
  assert.ok(last >= 24 * 3_600_000, `last attempt at ${last} ms`);
  assert.ok(last >= config.webhooks.retryForMs, "the last attempt is made after the retry window closes");
  assert.ok(last < config.webhooks.retryForMs + 3_600_000, "and at most one backoff step later");
  // gaps never shrink and are capped at an hour
  for (let i = 2; i < at.length; i++) assert.ok(at[i] - at[i - 1] >= at[i - 1] - at[i - 2]);
  assert.equal(Math.max(...at.slice(1).map((t, i) => t - at[i])), 3_600_000);
});

test("every event type has the version 100ms gives it", () => {
  assert.equal(new Set(WEBHOOK_EVENT_TYPES).size, WEBHOOK_EVENT_TYPES.length);
  for (const t of WEBHOOK_EVENT_TYPES) {
    assert.equal(envelopeVersion(t), t === "recording.success" || t === "recording.failed" ? "1.0" : "2.0", t);
  }
});
