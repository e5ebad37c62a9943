import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { latencyChart } from './latency-chart.js';
import { toMarkdown } from './markdown.js';
import type { BenchResults } from './results.js';

export const RESULTS_DIR = 'bench/results';

/** Writes `<timestamp>.json`, `latest.md` and `latest-latency.svg`; returns the JSON's path. */
export function writeReport(results: BenchResults): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${results.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 1)}\n`);
  writeFileSync(join(RESULTS_DIR, 'latest.md'), toMarkdown(results));
  const steps = results.pipeline.knee.steps.filter((s) => s.load.shape === 'open');
  const points = (pick: (s: (typeof steps)[number]) => number | undefined) =>
    steps.flatMap((s) => {
      const y = pick(s);
      return s.load.shape === 'open' && y !== undefined ? [{ x: s.load.rate, y }] : [];
    });
  const svg = latencyChart(
    'Our loop: latency against offered load (open loop)',
    [
      { name: 'p50 to SMTP accept', color: '#1f77b4', points: points((s) => s.latency.smtp?.p50) },
      { name: 'p99 to SMTP accept', color: '#1f77b4', dashed: true, points: points((s) => s.latency.smtp?.p99) },
      { name: 'p50 to status applied', color: '#ff7f0e', points: points((s) => s.latency.applied?.p50) },
      { name: 'p99 to status applied', color: '#ff7f0e', dashed: true, points: points((s) => s.latency.applied?.p99) },
    ],
    'offered load, emails/s (log scale)',
    'latency from scheduled request time (log scale)',
  );
  writeFileSync(join(RESULTS_DIR, 'latest-latency.svg'), svg);
  return file;
}
