import type { CpuProfileSummary } from '../profile/cpu-profile-summary.js';
import type { StatementCost } from '../profile/statement-profile.js';
import type { BacklogPoint } from '../sampling/backlog-sampler.js';
import type { RssPoint } from '../sampling/process-sampler.js';
import type { AcceptRun } from '../scenarios/api-vs-pg.scenario.js';
import type { BaselineRun } from '../scenarios/baselines.scenario.js';
import type { PipelineRun } from '../scenarios/pipeline.scenario.js';

export interface Phase {
  name: string;
  start: number;
  end: number;
}

/** Everything one `npm run bench` measured; written as `bench/results/<timestamp>.json`. */
export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  command: string;
  machine: {
    cpus: number;
    node: string;
    loadAverageAtStart: number[];
    /** Cores kept busy by processes outside the bench over 3 s before it started. */
    otherCoresBusyAtStart: number | null;
  };
  options: Record<string, unknown>;
  mailerEnv: Record<string, string>;
  baselines: { raw: BaselineRun | null; bullmq: BaselineRun | null };
  pipeline: {
    /** CPU seconds per second of each process while the loop is idle (after the warm-up). */
    idleCpuPerSecond: Record<string, number> | null;
    closed: PipelineRun | null;
    knee: { steps: PipelineRun[]; kneeRate: number | null };
    sustained: (PipelineRun & { rss: RssPoint[] }) | null;
    twoMailers: PipelineRun | null;
  };
  accept: { api: AcceptRun; pg: AcceptRun } | null;
  /** VmHWM of each app process over its life, MiB. */
  peakRssMb: Record<string, number>;
  backlog: { phases: Phase[]; points: BacklogPoint[] };
  ratios: Record<string, number | null>;
  /** What went wrong or could not be measured; printed with the table. */
  notes: string[];
  /** WARN/ERROR lines from the apps' logs: count, count per kind of message, the first 20. */
  appLogProblems: Record<string, { count: number; kinds: Record<string, number>; first: string[] }>;
  /** `--profile`: PostgreSQL's cost per statement during the closed loop, and each app's CPU profile. */
  profile: { statements: StatementCost[]; statementsNote: string; cpu: CpuProfileSummary[] } | null;
}

export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return a && b ? Math.round((a / b) * 100) / 100 : null;
}
