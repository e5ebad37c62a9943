import { randomBytes } from 'node:crypto';
import { cpuPer1000, type BenchContext } from '../lib/context.js';
import { startChild } from '../lib/rpc.js';
import { ratePerSecond, round1 } from '../lib/stats.js';
import type { GroupUsage } from '../sampling/process-sampler.js';
import { REDIS_URL } from './pipeline-stack.js';

export interface BaselineRun {
  label: string;
  emails: number;
  failed: number;
  /** Mails a second counted at the sink, first to last arrival. */
  sinkRate: number | null;
  delivered: number;
  durationMs: number;
  cpuPer1000: Record<string, number>;
  usage: Record<string, GroupUsage>;
}

interface RunReply {
  startedAt: number;
  endedAt: number;
  failed: number;
}

/**
 * Runs one baseline process (`raw-nodemailer` or `bullmq`) twice, a warm-up and then the measured
 * run of `throughputEmails`, with its process (and Redis) in the CPU window.
 */
async function baseline(ctx: BenchContext, kind: 'raw-nodemailer' | 'bullmq', label: string, extra: Record<string, unknown>): Promise<BaselineRun> {
  const child = startChild(kind, `scenarios/${kind}.process.ts`);
  const { smtpPoolSize, warmupEmails, throughputEmails } = ctx.options;
  const args = (total: number) => ({ smtpUrl: ctx.sink.url, poolSize: smtpPoolSize, tag: ctx.tag, total, firstSeq: ctx.takeSeqs(total), ...extra });
  try {
    await child.call<RunReply>('run', args(warmupEmails));
    await ctx.sink.reset();
    ctx.sampler.add(kind, () => [child.pid]);
    const window = ctx.sampler.begin();
    const reply = await child.call<RunReply>('run', args(throughputEmails));
    const usage = window.end();
    ctx.sampler.remove(kind);
    const arrivals = await ctx.sink.arrivalTimes();
    return {
      label,
      emails: throughputEmails,
      failed: reply.failed,
      sinkRate: round1(ratePerSecond(arrivals)),
      delivered: arrivals.length,
      durationMs: Math.round(reply.endedAt - reply.startedAt),
      cpuPer1000: cpuPer1000(usage, throughputEmails),
      usage,
    };
  } finally {
    await child.stop();
  }
}

export function rawNodemailer(ctx: BenchContext): Promise<BaselineRun> {
  return baseline(ctx, 'raw-nodemailer', `raw nodemailer, pool ${ctx.options.smtpPoolSize}`, { inFlight: 100 });
}

export function bullmq(ctx: BenchContext): Promise<BaselineRun> {
  return baseline(ctx, 'bullmq', `BullMQ worker (concurrency ${ctx.options.bullmqConcurrency}) + nodemailer, pool ${ctx.options.smtpPoolSize}`, {
    redisUrl: REDIS_URL,
    prefix: `bench${randomBytes(3).toString('hex')}`,
    concurrency: ctx.options.bullmqConcurrency,
  });
}
