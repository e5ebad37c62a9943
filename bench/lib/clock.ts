/**
 * Wall-clock milliseconds with sub-millisecond resolution. Every bench process uses this, so
 * timestamps taken in different processes on this machine compare (same system clock).
 */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
