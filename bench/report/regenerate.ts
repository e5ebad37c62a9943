/**
 * `tsx bench/report/regenerate.ts bench/results/<timestamp>.json`: writes that run's
 * `<timestamp>.md` and `<timestamp>-latency.svg` again from its JSON (e.g. for a run whose
 * `latest.*` a later run replaced). Fields a newer harness added are absent from an older run.
 */
import { readFileSync } from 'node:fs';
import type { BenchResults } from './results.js';
import { writeRunReport } from './write-report.js';

for (const file of process.argv.slice(2)) {
  const saved = JSON.parse(readFileSync(file, 'utf8')) as Partial<BenchResults>;
  const results = { ...saved, profile: saved.profile ?? null } as BenchResults;
  console.log(writeRunReport(results).map((name) => `bench/results/${name}`).join('\n'));
}
