// The retry schedule, as pure functions; webhook deliveries and persisted jobs share it (so it lives
// in util/, below both). After failed attempt n of a delivery window, the next try waits
// `backoffMs[n-1]` (the last value repeats). A window starts when the event is created, or again when
// it is replayed. Retries go on while the failed attempt ended less than `retryForMs` after the window
// started; the attempt that ends past that point is the last. So an endpoint that is down gets tried
// for at least `retryForMs` (26 h by default).

export function backoffDelayMs(backoffMs: readonly number[], failedAttempt: number): number {
  if (backoffMs.length === 0) return 0;
  const i = Math.min(Math.max(failedAttempt, 1), backoffMs.length) - 1;
  return backoffMs[i];
}

export interface RetryPlanInput {
  backoffMs: readonly number[];
  retryForMs: number;
  /** When the delivery window began (event creation or its latest replay), ms since epoch. */
  windowStartMs: number;
  /** Number of the failed attempt within the window, 1-based. */
  failedAttempt: number;
  nowMs: number;
}

export type RetryPlan = { kind: "retry"; atMs: number; delayMs: number } | { kind: "give_up" };

export function planRetry(input: RetryPlanInput): RetryPlan {
  if (input.nowMs - input.windowStartMs >= input.retryForMs) return { kind: "give_up" };
  const delayMs = backoffDelayMs(input.backoffMs, input.failedAttempt);
  return { kind: "retry", atMs: input.nowMs + delayMs, delayMs };
}

/** The offsets (from the window start, ignoring delivery time) at which attempts are made. */
export function attemptSchedule(backoffMs: readonly number[], retryForMs: number): number[] {
  const at: number[] = [0];
  for (let n = 1; ; n++) {
    const plan = planRetry({ backoffMs, retryForMs, windowStartMs: 0, failedAttempt: n, nowMs: at[n - 1] });
    if (plan.kind === "give_up") return at;
    at.push(plan.atMs);
  }
}
