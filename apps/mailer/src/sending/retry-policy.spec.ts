import { describe, expect, it } from 'vitest';
import { decideRetry, retryDelayMs, type RetryPolicyOptions } from './retry-policy.js';

const options: RetryPolicyOptions = { maxAttempts: 5, baseDelayMs: 1_000, maxDelayMs: 60_000, windowMs: 3_600_000 };
const t0 = new Date('2026-01-01T00:00:00Z');

describe('retryDelayMs', () => {
  it('doubles with each failure and keeps half of each step, the other half being jitter', () => {
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, options, () => 0))).toEqual([500, 1_000, 2_000, 4_000]);
    expect([1, 2, 3, 4].map((n) => retryDelayMs(n, options, () => 1))).toEqual([1_000, 2_000, 4_000, 8_000]);
    expect(retryDelayMs(3, options, () => 0.5)).toBe(3_000);
  });

  it('stops growing at the cap, however many failures', () => {
    expect(retryDelayMs(40, options, () => 1)).toBe(60_000);
    expect(retryDelayMs(40, options, () => 0)).toBe(30_000);
  });

  it('spreads emails that failed together', () => {
    const delays = new Set(Array.from({ length: 50 }, () => retryDelayMs(3, options)));
    expect(delays.size).toBeGreaterThan(10);
    for (const delay of delays) {
      expect(delay).toBeGreaterThanOrEqual(2_000);
      expect(delay).toBeLessThanOrEqual(4_000);
    }
  });

  it('refuses a failure number that is not a positive integer', () => {
    expect(() => retryDelayMs(0, options)).toThrow(RangeError);
  });
});

describe('decideRetry', () => {
  it('retries at now + the jittered delay while attempts and the window remain', () => {
    const now = new Date(t0.getTime() + 10_000);
    expect(decideRetry(2, t0, now, options, () => 0)).toEqual({ retry: true, nextAttemptAt: new Date(now.getTime() + 1_000) });
  });

  it('gives up after the last attempt', () => {
    expect(decideRetry(5, t0, t0, options)).toMatchObject({ retry: false, code: 'retries_exhausted', reason: expect.stringMatching(/5 attempts/) });
  });

  it('gives up when the next attempt would start after the window that began with the first attempt', () => {
    const windowed = { ...options, windowMs: 10_000 };
    // The next attempt would start at 9.5 s + 0.5 s = 10 s: still inside the window.
    expect(decideRetry(1, t0, new Date(t0.getTime() + 9_500), windowed, () => 0)).toMatchObject({ retry: true });
    expect(decideRetry(1, t0, new Date(t0.getTime() + 9_501), windowed, () => 0)).toMatchObject({ retry: false, code: 'retry_window_elapsed' });
  });
});
