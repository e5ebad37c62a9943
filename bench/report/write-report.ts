import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { latencyChart } from './latency-chart.js';
import { toMarkdown } from './markdown.js';
import type { BenchResults } from './results.js';

export const RESULTS_DIR = 'bench/results';

/**
 * Writes `<timestamp>.json`, `<timestamp>.md` and `<timestamp>-latency.svg`, and copies the last two
 * to `latest.md` and `latest-latency.svg`; returns the JSON's path.
 */
export function writeReport(results: BenchResults): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${stampOf(results)}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 1)}\n`);
  for (const name of writeRunReport(results)) copyFileSync(join(RESULTS_DIR, name), join(RESULTS_DIR, name.replace(stampOf(results), 'latest')));
  return file;
}

const stampOf = (results: BenchResults) => results.startedAt.replace(/[:.]/g, '-');

/** The run's own tables and chart, `<timestamp>.md` and `<timestamp>-latency.svg` (also from a saved JSON: bench/report/regenerate.ts). */
export function writeRunReport(results: BenchResults): string[] {
  const stamp = stampOf(results);
  writeFileSync(join(RESULTS_DIR, `${stamp}.md`), toMarkdown(results));
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
  writeFileSync(join(RESULTS_DIR, `${stamp}-latency.svg`), svg);
  return [`${stamp}.md`, `${stamp}-latency.svg`];
}
