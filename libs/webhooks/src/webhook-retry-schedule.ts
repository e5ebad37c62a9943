const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * Delays after the 1st, 2nd, … failed attempt: quick retries for a blip, then spaced out over
 * about a day (23.7 h in all, 11 attempts), so a receiver down overnight still gets its events.
 */
export const DEFAULT_WEBHOOK_RETRY_SCHEDULE_MS: readonly number[] = Object.freeze([
  5 * SECOND,
  30 * SECOND,
  2 * MINUTE,
  10 * MINUTE,
  30 * MINUTE,
  HOUR,
  2 * HOUR,
  4 * HOUR,
  8 * HOUR,
  8 * HOUR,
]);

/** Share of a scheduled delay that jitter may add or take away. */
export const WEBHOOK_RETRY_JITTER = 0.2;

/**
 * Parses `WEBHOOK_RETRY_SCHEDULE_MS`: comma-separated positive integers of milliseconds. Unset or
 * blank gives the default; a bad entry throws an `Error` naming it, for config validation.
 */
export function parseRetrySchedule(value: string | undefined): number[] {
  if (value === undefined || value.trim() === '') return [...DEFAULT_WEBHOOK_RETRY_SCHEDULE_MS];
  return value.split(',').map((raw) => {
    const entry = raw.trim();
    const ms = /^\d+$/.test(entry) ? Number(entry) : Number.NaN;
    if (!(Number.isSafeInteger(ms) && ms > 0)) throw new Error(`retry schedule entry "${entry}" is not a positive integer of milliseconds`);
    return ms;
  });
}

/**
 * The delay before the next attempt after `failedAttempts` failures (1-based), or `undefined`
 * when the schedule is exhausted and delivery gives up.
 *
 * Jitter is ±20 % of the scheduled delay, so the retries of many deliveries that failed together
 * (a receiver's outage) spread out instead of arriving as one burst; the delay stays within
 * [0.8, 1.2) × the schedule, never below its half, so the schedule still says roughly when.
 */
export function nextRetryDelayMs(schedule: readonly number[], failedAttempts: number, random: () => number = Math.random): number | undefined {
  if (!Number.isInteger(failedAttempts) || failedAttempts < 1) throw new RangeError(`failedAttempts must be a positive integer, got ${failedAttempts}`);
  const base = schedule[failedAttempts - 1];
  if (base === undefined) return undefined;
  const factor = 1 - WEBHOOK_RETRY_JITTER + 2 * WEBHOOK_RETRY_JITTER * Math.min(Math.max(random(), 0), 1);
  return Math.max(1, Math.round(base * factor));
}
