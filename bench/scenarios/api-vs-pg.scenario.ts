import { cpuPer1000, type BenchContext } from '../lib/context.js';
import { createDatabase, dropDatabase, migrateEmailTables } from '../lib/databases.js';
import { round1, summarize, type LatencySummary } from '../lib/stats.js';
import type { TargetSpec } from '../load/load-generator.js';
import { serverResolvers, type GroupUsage } from '../sampling/process-sampler.js';
import type { PipelineStack } from './pipeline-stack.js';

export interface AcceptRun {
  label: string;
  requests: number;
  accepted: number;
  errors: Record<string, number>;
  /** Accepted requests (committed transactions) a second. */
  acceptRate: number | null;
  latency: LatencySummary | null;
  cpuPer1000: Record<string, number>;
  usage: Record<string, GroupUsage>;
}

async function closedLoop(ctx: BenchContext, label: string, target: TargetSpec): Promise<AcceptRun> {
  const { warmupEmails, throughputEmails, concurrency } = ctx.options;
  await ctx.load.closed(target, concurrency, warmupEmails, ctx.takeSeqs(warmupEmails));
  const window = ctx.sampler.begin();
  const result = await ctx.load.closed(target, concurrency, throughputEmails, ctx.takeSeqs(throughputEmails));
  const usage = window.end();
  const accepted = result.records.filter((r) => r[3] === 1).length;
  return {
    label,
    requests: throughputEmails,
    accepted,
    errors: result.errors,
    acceptRate: round1(accepted / ((result.endedAt - result.startedAt) / 1000)),
    latency: summarize(result.records.map((r) => r[2] - r[1])),
    cpuPer1000: cpuPer1000(usage, accepted),
    usage,
  };
}

/**
 * The API's accept rate (business running with its relay, no mailer consuming) against the same
 * two rows written with raw `pg`, both from `concurrency` closed-loop clients.
 */
export async function apiVersusPg(ctx: BenchContext, stack: PipelineStack): Promise<{ api: AcceptRun; pg: AcceptRun }> {
  await stack.stopMailers();
  const api = await closedLoop(ctx, `POST /v1/emails (${ctx.options.concurrency} clients)`, { kind: 'api', urls: [stack.business.baseUrl], tag: ctx.tag, apiKey: stack.businessKey });
  const url = await createDatabase(`rawpg_${stack.id}`);
  try {
    await migrateEmailTables(url);
    const name = new URL(url).pathname.slice(1);
    // From here PostgreSQL's CPU is the raw-pg database's backends (and the server's own processes).
    ctx.sampler.add('postgres', serverResolvers.postgres(() => [name]));
    const pg = await closedLoop(ctx, `raw pg, pool ${ctx.options.pgPoolSize} (${ctx.options.concurrency} clients)`, {
      kind: 'pg',
      databaseUrl: url,
      poolSize: ctx.options.pgPoolSize,
      topic: `${stack.topicPrefix}mail.requests.transactional`,
      tag: ctx.tag,
    });
    return { api, pg };
  } finally {
    await dropDatabase(url);
  }
}
