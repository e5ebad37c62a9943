import { parseArgs } from 'node:util';

/** The sizes of one run; `--quick` shrinks everything to about a minute, `--long` adds 10 minutes of sustained load. */
export interface BenchOptions {
  mode: 'quick' | 'default' | 'long';
  /** Emails per throughput run (baselines, closed loop, 2 mailers, API vs raw pg). */
  throughputEmails: number;
  warmupEmails: number;
  /** Clients of the closed-loop runs. */
  concurrency: number;
  /** Offered rates of the knee search, emails/s, tried in order until the knee. */
  kneeRates: number[];
  kneeStepMs: number;
  /** Longest wait for a step's emails to drain before the next step. */
  drainTimeoutMs: number;
  /** `--long`: the sustained-load phase (RSS flat?), at `sustainedRate`. */
  sustainedMs: number;
  sustainedRate: number | null;
  /** SMTP connections of every sender (raw, BullMQ and each mailer instance). */
  smtpPoolSize: number;
  bullmqConcurrency: number;
  /** The business app's pool (`extra.max` in apps/business/src/app.module.ts), used for raw pg too. */
  pgPoolSize: number;
  /**
   * `--profile`: the apps run with V8's sampling profiler (`--cpu-prof`, summarised per code owner
   * and function), and, when the server loads `pg_stat_statements`, PostgreSQL's cost per statement
   * during the closed loop is read. Profiling slows the apps down: compare rates between runs of
   * the same kind only.
   */
  profile: boolean;
}

export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({ args: argv, options: { quick: { type: 'boolean' }, long: { type: 'boolean' }, rate: { type: 'string' }, profile: { type: 'boolean' } } });
  const base: BenchOptions = {
    mode: 'default',
    throughputEmails: 3_000,
    warmupEmails: 200,
    concurrency: 50,
    // Steps of about √2: fine enough to place the knee within ±20 %.
    kneeRates: [25, 35, 50, 70, 100, 140, 200, 280, 400, 560, 800, 1_130, 1_600],
    kneeStepMs: 10_000,
    drainTimeoutMs: 30_000,
    sustainedMs: 0,
    sustainedRate: null,
    smtpPoolSize: 10,
    bullmqConcurrency: 50,
    pgPoolSize: 20,
    profile: values.profile === true,
  };
  if (values.quick) {
    return { ...base, mode: 'quick', throughputEmails: 400, warmupEmails: 50, kneeRates: [25, 50, 100, 200, 400], kneeStepMs: 4_000, drainTimeoutMs: 10_000 };
  }
  if (values.long) {
    // Sustained rate: `--rate`, else half the knee found in this run.
    return { ...base, mode: 'long', sustainedMs: 600_000, sustainedRate: values.rate ? Number(values.rate) : null };
  }
  return base;
}
