import { nowMs, sleep } from '../lib/clock.js';
import { cpuPer1000, type BenchContext } from '../lib/context.js';
import { recipientOf } from '../lib/mail.js';
import { ratePerSecond, round1, summarize, type LatencySummary } from '../lib/stats.js';
import type { RunResult, TargetSpec } from '../load/load-generator.js';
import type { GroupUsage } from '../sampling/process-sampler.js';
import type { PipelineStack } from './pipeline-stack.js';

export type Load = { shape: 'closed'; concurrency: number; total: number } | { shape: 'open'; rate: number; durationMs: number };

export interface PipelineRun {
  label: string;
  load: Load;
  mailers: number;
  requests: number;
  accepted: number;
  /** Requests the generator could not even send (too many open): counted as lost offered load. */
  notSent: number;
  errors: Record<string, number>;
  startedAt: number;
  endedAt: number;
  /** Accepted requests a second over the load's span. */
  acceptRate: number | null;
  /** Mails a second at the sink, first to last arrival of this run's emails. */
  sinkRate: number | null;
  /** Open loop: this run's mails at the sink by 1 s after the last scheduled request, per second of load. */
  achievedRate: number | null;
  /** Accepted emails per second from the first request to the last status applied. */
  endToEndRate: number | null;
  delivered: number;
  /** Messages the sink received more than once for the same email (same recipient). */
  duplicates: number;
  applied: number;
  /** Latencies from the request's scheduled time (open loop) or send time (closed loop), ms. */
  latency: { api: LatencySummary | null; smtp: LatencySummary | null; applied: LatencySummary | null };
  drained: boolean;
  cpuPer1000: Record<string, number>;
  usage: Record<string, GroupUsage>;
  maxSendLagMs: number;
}

/**
 * One measured load on our loop: requests from the load generator to `POST /v1/emails`, then a
 * wait until every accepted email is `sent` on business (or `drainTimeoutMs`), then the
 * latencies of each email to its API answer, its SMTP accept at the sink (matched by recipient)
 * and its status applied (business `updated_at` of the `sent` row).
 */
export async function runPipeline(ctx: BenchContext, stack: PipelineStack, label: string, load: Load): Promise<PipelineRun> {
  const target: TargetSpec = { kind: 'api', urls: [stack.business.baseUrl], tag: ctx.tag, apiKey: stack.businessKey };
  const requests = load.shape === 'closed' ? load.total : Math.round((load.rate * load.durationMs) / 1000);
  const firstSeq = ctx.takeSeqs(requests);
  await ctx.sink.reset();
  const window = ctx.sampler.begin();
  const result: RunResult =
    load.shape === 'closed'
      ? await ctx.load.closed(target, load.concurrency, load.total, firstSeq)
      : await ctx.load.open(target, load.rate, load.durationMs, firstSeq);
  const accepted = result.records.filter((r) => r[3] === 1);
  const ids = accepted.map((r) => r[4]);
  // A closed loop fills the pipeline faster than it sends: give its backlog time to drain.
  const drainTimeoutMs = load.shape === 'closed' ? Math.max(ctx.options.drainTimeoutMs, 180_000) : ctx.options.drainTimeoutMs;
  const drained = await waitUntil(async () => (await stack.countSent(ids)) >= ids.length, drainTimeoutMs);
  const usage = window.end();
  const { at: arrivals, duplicates } = await ctx.sink.arrivals();
  const applied = await stack.appliedAt(ids);

  const api: number[] = [];
  const smtp: number[] = [];
  const appliedLatency: number[] = [];
  const arrivalTimes: number[] = [];
  let lastApplied = 0;
  let deliveredOnTime = 0;
  let duplicateMails = 0;
  const loadEnd = load.shape === 'open' ? result.startedAt + load.durationMs : result.endedAt;
  for (const [seq, scheduledAt, doneAt, ok, id] of result.records) {
    api.push(doneAt - scheduledAt);
    if (!ok) continue;
    const recipient = recipientOf(ctx.tag, seq);
    duplicateMails += duplicates.get(recipient) ?? 0;
    const arrived = arrivals.get(recipient);
    if (arrived !== undefined) {
      smtp.push(arrived - scheduledAt);
      arrivalTimes.push(arrived);
      if (arrived <= loadEnd + 1_000) deliveredOnTime++;
    }
    const at = applied.get(id);
    if (at !== undefined) {
      appliedLatency.push(at - scheduledAt);
      lastApplied = Math.max(lastApplied, at);
    }
  }
  const span = (result.endedAt - result.startedAt) / 1000;
  return {
    label,
    load,
    mailers: stack.mailers.filter((m) => m.pid !== undefined).length,
    requests,
    accepted: accepted.length,
    notSent: result.notSent,
    errors: result.errors,
    startedAt: result.startedAt,
    endedAt: result.endedAt,
    acceptRate: round1(accepted.length / span),
    sinkRate: round1(ratePerSecond(arrivalTimes)),
    achievedRate: load.shape === 'open' ? round1(deliveredOnTime / (load.durationMs / 1000)) : null,
    endToEndRate: lastApplied > 0 ? round1(applied.size / ((lastApplied - result.startedAt) / 1000)) : null,
    delivered: smtp.length,
    duplicates: duplicateMails,
    applied: applied.size,
    latency: { api: summarize(api), smtp: summarize(smtp), applied: summarize(appliedLatency) },
    drained,
    cpuPer1000: cpuPer1000(usage, accepted.length),
    usage,
    maxSendLagMs: round1(result.maxSendLagMs) ?? 0,
  };
}

/** Whether an open-loop step is past the knee: p99 to SMTP accept over 1 s, or under 90 % of the offered rate delivered. */
export function pastKnee(run: PipelineRun): boolean {
  if (run.load.shape !== 'open') return false;
  const p99 = run.latency.smtp?.p99 ?? Infinity;
  const undelivered = run.requests - run.delivered;
  return p99 > 1_000 || (run.achievedRate ?? 0) < 0.9 * run.load.rate || undelivered > 0;
}

/** The knee search: open-loop steps at rising rates, stopping after the first step past the knee. */
export async function findKnee(ctx: BenchContext, stack: PipelineStack): Promise<{ steps: PipelineRun[]; kneeRate: number | null }> {
  const steps: PipelineRun[] = [];
  let kneeRate: number | null = null;
  for (const rate of ctx.options.kneeRates) {
    const step = await runPipeline(ctx, stack, `open ${rate}/s`, { shape: 'open', rate, durationMs: ctx.options.kneeStepMs });
    steps.push(step);
    ctx.log(describe(step));
    if (pastKnee(step)) break;
    kneeRate = rate;
    // Let what is left of the step's backlog settle before the next one.
    await sleep(1_000);
  }
  return { steps, kneeRate };
}

export function describe(run: PipelineRun): string {
  const l = run.latency;
  const p = (s: LatencySummary | null) => (s ? `p50 ${s.p50} p99 ${s.p99} max ${s.max}` : 'n/a');
  return `${run.label}: accepted ${run.accepted}/${run.requests}, at sink ${run.delivered} (+${run.duplicates} duplicates), applied ${run.applied}` +
    `${run.drained ? '' : ' (NOT drained)'}; sink ${run.sinkRate ?? 'n/a'}/s` +
    `${run.achievedRate !== null ? `, achieved ${run.achievedRate}/s` : ''}; smtp ${p(l.smtp)}; applied ${p(l.applied)}`;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = nowMs() + timeoutMs;
  while (nowMs() < deadline) {
    if (await check()) return true;
    await sleep(250);
  }
  return check();
}
