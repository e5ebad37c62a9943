import { describe, expect, it } from 'vitest';
import { DEFAULT_WEBHOOK_RETRY_SCHEDULE_MS, nextRetryDelayMs, parseRetrySchedule } from './webhook-retry-schedule.js';

describe('parseRetrySchedule', () => {
  it('reads comma-separated positive milliseconds', () => {
    expect(parseRetrySchedule('1000, 5000,60000')).toEqual([1000, 5000, 60000]);
  });

  it('defaults to about a day of retries when unset or blank', () => {
    expect(parseRetrySchedule(undefined)).toEqual(DEFAULT_WEBHOOK_RETRY_SCHEDULE_MS);
    expect(parseRetrySchedule(' ')).toEqual(DEFAULT_WEBHOOK_RETRY_SCHEDULE_MS);
    const total = DEFAULT_WEBHOOK_RETRY_SCHEDULE_MS.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(20 * 3_600_000);
    expect(total).toBeLessThanOrEqual(26 * 3_600_000);
  });

  it.each(['0', '-5', '1.5', '1e3', 'abc', '', '99999999999999999999'])('throws naming the bad entry %j', (entry) => {
    expect(() => parseRetrySchedule(`1000,${entry},2000`)).toThrow(`"${entry}"`);
  });
});

describe('nextRetryDelayMs', () => {
  const schedule = [1000, 10_000, 100_000];

  it('follows the schedule by 1-based failed attempt and gives up after it', () => {
    const middle = (): number => 0.5;
    expect(nextRetryDelayMs(schedule, 1, middle)).toBe(1000);
    expect(nextRetryDelayMs(schedule, 3, middle)).toBe(100_000);
    expect(nextRetryDelayMs(schedule, 4, middle)).toBeUndefined();
    expect(nextRetryDelayMs([], 1, middle)).toBeUndefined();
  });

  it('jitters within ±20 % of the scheduled delay, at both ends of the random range', () => {
    expect(nextRetryDelayMs(schedule, 2, () => 0)).toBe(8000);
    expect(nextRetryDelayMs(schedule, 2, () => 0.999_999)).toBe(12_000);
    for (let i = 0; i < 1000; i++) {
      const delay = nextRetryDelayMs(DEFAULT_WEBHOOK_RETRY_SCHEDULE_MS, 9)!;
      expect(delay).toBeGreaterThanOrEqual(0.8 * 8 * 3_600_000);
      expect(delay).toBeLessThanOrEqual(1.2 * 8 * 3_600_000);
    }
  });

  it('spreads delays rather than returning one value', () => {
    const delays = new Set(Array.from({ length: 50 }, () => nextRetryDelayMs(schedule, 3)));
    expect(delays.size).toBeGreaterThan(10);
  });

  it('refuses a failed-attempt count below 1', () => {
    expect(() => nextRetryDelayMs(schedule, 0)).toThrow(RangeError);
    expect(() => nextRetryDelayMs(schedule, 1.5)).toThrow(RangeError);
  });
});
