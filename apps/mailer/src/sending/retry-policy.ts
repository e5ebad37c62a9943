/** When to try a temporarily failed email again, and when to stop. */
export interface RetryPolicyOptions {
  /** Attempts in all, the first one included (`SEND_MAX_ATTEMPTS`). */
  maxAttempts: number;
  /** The delay after the first failure, before jitter; doubled after each further one (`SEND_RETRY_BASE_MS`). */
  baseDelayMs: number;
  /** The longest delay between two attempts, before jitter (`SEND_RETRY_MAX_DELAY_MS`). */
  maxDelayMs: number;
  /** No attempt starts later than this after the first one began (`SEND_RETRY_WINDOW_MS`). */
  windowMs: number;
}

export type RetryDecision =
  | { retry: true; nextAttemptAt: Date }
  | {
      retry: false;
      /** Stable code for `detail.code` of the `email.failed` event. */
      code: 'retries_exhausted' | 'retry_window_elapsed';
      reason: string;
    };

/**
 * The delay after the `failedAttempt`-th failure (1-based): exponential, capped, with "equal
 * jitter": half the step is kept, the other half is random. Emails that failed together (a
 * server's outage) then come back spread out instead of as one burst, and the delay still grows
 * with each failure (never below half its step).
 */
export function retryDelayMs(failedAttempt: number, options: Pick<RetryPolicyOptions, 'baseDelayMs' | 'maxDelayMs'>, random: () => number = Math.random): number {
  if (!Number.isInteger(failedAttempt) || failedAttempt < 1) throw new RangeError(`failedAttempt must be a positive integer, got ${failedAttempt}`);
  // 2^30 already exceeds any configurable cap; the bound keeps the power finite.
  const step = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.min(failedAttempt - 1, 30));
  const jitter = Math.min(Math.max(random(), 0), 1);
  return Math.max(1, Math.round(step / 2 + (step / 2) * jitter));
}

/**
 * Whether attempt `failedAttempt` (which failed temporarily at `now`) gets a successor, and when.
 * The delay is computed once, here: the caller records `nextAttemptAt` in the `email.retrying`
 * event and has the queue run the next attempt at exactly that time.
 */
export function decideRetry(failedAttempt: number, firstAttemptAt: Date, now: Date, options: RetryPolicyOptions, random: () => number = Math.random): RetryDecision {
  if (failedAttempt >= options.maxAttempts) {
    return { retry: false, code: 'retries_exhausted', reason: `gave up after ${failedAttempt} attempts (SEND_MAX_ATTEMPTS=${options.maxAttempts})` };
  }
  const nextAttemptAt = new Date(now.getTime() + retryDelayMs(failedAttempt, options, random));
  const windowEnd = firstAttemptAt.getTime() + options.windowMs;
  if (nextAttemptAt.getTime() > windowEnd) {
    return {
      retry: false,
      code: 'retry_window_elapsed',
      reason: `gave up after ${failedAttempt} attempts: the next one would start after the retry window (SEND_RETRY_WINDOW_MS=${options.windowMs}) that began with the first attempt at ${firstAttemptAt.toISOString()}`,
    };
  }
  return { retry: true, nextAttemptAt };
}
