#!/usr/bin/env node
// `npm audit --audit-level=high`, with one distinction plain `npm audit` does not make: a
// registry that does not serve the advisory endpoint (some mirrors and sandboxes answer 405) is
// reported as "not checked" and does not fail the build, while any high or critical advisory
// does. Printing which of the two happened keeps the result honest in CI logs.
import { spawnSync } from 'node:child_process';

const run = spawnSync('npm', ['audit', '--json', '--audit-level=high'], { encoding: 'utf8' });
let report;
try {
  report = JSON.parse(run.stdout);
} catch {
  report = undefined;
}

const counts = report?.metadata?.vulnerabilities;
if (counts) {
  const serious = (counts.high ?? 0) + (counts.critical ?? 0);
  console.log(`npm audit: ${counts.critical ?? 0} critical, ${counts.high ?? 0} high, ${counts.moderate ?? 0} moderate, ${counts.low ?? 0} low`);
  if (serious > 0) {
    spawnSync('npm', ['audit', '--audit-level=high'], { stdio: 'inherit' });
    process.exit(1);
  }
  process.exit(0);
}

const reason = report?.message ?? report?.error?.summary ?? run.stderr.split('\n').find((line) => line.includes('error')) ?? `exit ${run.status}`;
// Only a registry that has no advisory service (405/404/501) or cannot be reached at all is "not
// checked"; any other failure of the audit fails the step rather than passing unseen.
if (/\b(405|404|501)\b|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT/.test(reason)) {
  console.log(`npm audit: NOT CHECKED, the registry's advisory endpoint did not answer (${reason.trim()})`);
} else {
  console.log(`npm audit failed: ${reason.trim()}`);
  process.exit(1);
}
