export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentiles of `values` (milliseconds); null when there is nothing to summarize. */
export function summarize(values: number[]): LatencySummary | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
  const round = (v: number) => Math.round(v * 10) / 10;
  return { count: sorted.length, p50: round(rank(50)), p95: round(rank(95)), p99: round(rank(99)), max: round(sorted[sorted.length - 1] as number) };
}

/** Events per second over the span from the first to the last timestamp (ms); null below two events. */
export function ratePerSecond(timestamps: number[]): number | null {
  if (timestamps.length < 2) return null;
  let min = Infinity;
  let max = -Infinity;
  for (const t of timestamps) {
    if (t < min) min = t;
    if (t > max) max = t;
  }
  return max > min ? ((timestamps.length - 1) * 1000) / (max - min) : null;
}

export const round1 = (v: number | null | undefined): number | null => (v === null || v === undefined ? null : Math.round(v * 10) / 10);
