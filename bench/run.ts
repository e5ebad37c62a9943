/**
 * `npm run bench`: measures, in one run on this machine, with the same message and the same
 * counting SMTP sink, (1) raw pooled nodemailer, (2) a BullMQ worker + nodemailer, (3) our loop
 * from `POST /v1/emails` to the status applied on business, and (4) the API's accept rate against
 * raw `pg` inserts of the same rows. See bench/README.md for what each number means.
 */
import { cpus, loadavg } from 'node:os';
import { nowMs, sleep } from './lib/clock.js';
import { cpuPer1000, type BenchContext } from './lib/context.js';
import { parseOptions } from './lib/options.js';
import { LoadGenerator } from './load/load-generator.js';
import { ratio, type BenchResults, type Phase } from './report/results.js';
import { writeReport } from './report/write-report.js';
import { BacklogSampler } from './sampling/backlog-sampler.js';
import { ProcessSampler, serverResolvers } from './sampling/process-sampler.js';
import { readMemory } from './sampling/proc.js';
import { apiVersusPg } from './scenarios/api-vs-pg.scenario.js';
import { bullmq, rawNodemailer } from './scenarios/baselines.scenario.js';
import { KAFKA_BROKERS, PipelineStack, REDIS_URL } from './scenarios/pipeline-stack.js';
import { describe, findKnee, runPipeline } from './scenarios/pipeline.scenario.js';
import { Sink } from './sink/sink-client.js';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LOG_DIR } from './lib/app-runner.js';
import { summarizeCpuProfile } from './profile/cpu-profile-summary.js';
import { StatementProfile } from './profile/statement-profile.js';

const argv = process.argv.slice(2);
const options = parseOptions(argv);
const started = new Date();
const t0 = nowMs();
const log = (message: string) => console.log(`[bench ${((nowMs() - t0) / 1000).toFixed(0).padStart(4)}s] ${message}`);

async function main(): Promise<void> {
  const sink = await Sink.start();
  const load = LoadGenerator.start();
  const sampler = new ProcessSampler();
  sampler.add('sink', () => [sink.pid]);
  sampler.add('load-generator', () => [load.pid]);
  sampler.add('kafka', serverResolvers.kafka());
  sampler.add('redis', serverResolvers.redis());
  sampler.add('postgres-aux', serverResolvers.postgresAux());
  sampler.add('bench-orchestrator', () => [process.pid]);
  sampler.start();
  let seq = 0;
  const ctx: BenchContext = {
    options,
    sink,
    load,
    sampler,
    tag: `r${Date.now().toString(36)}`,
    takeSeqs: (count) => ((seq += count), seq - count),
    log,
  };
  const mailerEnv = { SMTP_POOL_SIZE: String(options.smtpPoolSize) };
  const notes: string[] = [];
  const phases: Phase[] = [];
  const results: BenchResults = {
    startedAt: started.toISOString(),
    finishedAt: '',
    command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
    machine: { cpus: cpus().length, node: process.version, loadAverageAtStart: loadavg().map((v) => Math.round(v * 100) / 100), otherCoresBusyAtStart: null },
    options: { ...options },
    mailerEnv,
    baselines: { raw: null, bullmq: null },
    pipeline: { idleCpuPerSecond: null, closed: null, knee: { steps: [], kneeRate: null }, sustained: null, twoMailers: null },
    accept: null,
    peakRssMb: {},
    backlog: { phases, points: [] },
    ratios: {},
    notes,
    appLogProblems: {},
    profile: null,
  };
  const profileDir = options.profile ? join(LOG_DIR, `profiles-${ctx.tag}`) : undefined;
  const statements = new StatementProfile();
  const stack = new PipelineStack({ smtpUrl: sink.url, mailerEnv, ...(profileDir && { profileDir }) });
  let backlog: BacklogSampler | undefined;
  const phase = async <T>(name: string, body: () => Promise<T>): Promise<T> => {
    log(`${name}…`);
    const start = nowMs();
    try {
      return await body();
    } finally {
      phases.push({ name, start, end: nowMs() });
    }
  };
  try {
    // How busy the machine is without us: a run next to another test run measures less.
    const idle = sampler.begin();
    await sleep(3_000);
    const othersCores = Math.round(((idle.end().others?.cpuSeconds ?? 0) / 3) * 100) / 100;
    results.machine.otherCoresBusyAtStart = othersCores;
    log(`other processes keep ${othersCores} of ${cpus().length} cores busy`);
    if (othersCores > 0.2) notes.push(`Before the run, other processes kept ${othersCores} of ${cpus().length} cores busy: every number here is lower than on a quiet machine.`);
    results.baselines.raw = await phase('raw nodemailer', () => rawNodemailer(ctx));
    log(`raw nodemailer: ${results.baselines.raw.sinkRate} mails/s at the sink`);
    results.baselines.bullmq = await phase('BullMQ + nodemailer', () => bullmq(ctx));
    log(`BullMQ: ${results.baselines.bullmq.sinkRate} mails/s at the sink`);

    await phase('start our loop', () => stack.start());
    sampler.add('business', () => (stack.business.pid ? [stack.business.pid] : []));
    sampler.add('mailer', () => stack.mailers.flatMap((m) => (m.pid ? [m.pid] : [])));
    sampler.add('postgres', serverResolvers.postgres(() => stack.databaseNames));
    backlog = new BacklogSampler({
      businessDatabaseUrl: stack.businessDatabaseUrl,
      mailerDatabaseUrl: stack.mailerDatabaseUrl,
      kafka: {
        brokers: [KAFKA_BROKERS],
        prefix: stack.topicPrefix,
        groups: { 'mailer.requests.transactional': 'mail.requests.transactional', 'business.email-events': 'mail.events' },
      },
      redisUrl: REDIS_URL,
      queues: { prefix: stack.id, names: ['send-transactional'] },
    });
    await backlog.start();

    await phase('warm-up', () => runPipeline(ctx, stack, 'warm-up', { shape: 'closed', concurrency: options.concurrency, total: options.warmupEmails }));
    // The loop's cost with nothing to do (pollers, sweepers, heartbeats): CPU seconds a second.
    results.pipeline.idleCpuPerSecond = await phase('idle', async () => {
      await sleep(3_000);
      const window = sampler.begin();
      await sleep(5_000);
      return cpuPer1000(window.end(), 5_000);
    });
    const counting = options.profile && (await statements.prepare());
    if (counting) await statements.reset();
    const closed = await phase('closed loop, 1 mailer', () =>
      runPipeline(ctx, stack, `closed loop, ${options.concurrency} clients`, { shape: 'closed', concurrency: options.concurrency, total: options.throughputEmails }),
    );
    results.pipeline.closed = closed;
    if (options.profile) {
      results.profile = {
        statements: counting ? await statements.read(stack.databaseNames, closed.accepted) : [],
        statementsNote: counting
          ? 'pg_stat_statements over the closed loop, 1 mailer (both apps\' databases), costliest first'
          : 'PostgreSQL does not load pg_stat_statements (shared_preload_libraries): no statement profile',
        cpu: [],
      };
    }
    log(describe(closed));

    results.pipeline.knee = await phase('knee search (open loop)', () => findKnee(ctx, stack));

    if (options.mode === 'long') {
      const rate = options.sustainedRate ?? Math.max(25, Math.floor((results.pipeline.knee.kneeRate ?? 50) / 2));
      const rssFrom = sampler.rssSeries.length;
      const run = await phase(`sustained ${rate}/s for ${options.sustainedMs / 60_000} min`, () =>
        runPipeline(ctx, stack, `sustained ${rate}/s`, { shape: 'open', rate, durationMs: options.sustainedMs }),
      );
      results.pipeline.sustained = { ...run, rss: sampler.rssSeries.slice(rssFrom) };
      log(describe(run));
    }

    await phase('add a second mailer', async () => {
      await stack.addMailer();
      // Until the group has rebalanced, the new instance has no partitions: a warm-up run covers it.
      await runPipeline(ctx, stack, 'warm-up, 2 mailers', { shape: 'closed', concurrency: options.concurrency, total: options.warmupEmails });
    });
    const two = await phase('closed loop, 2 mailers', () =>
      runPipeline(ctx, stack, `closed loop, ${options.concurrency} clients`, { shape: 'closed', concurrency: options.concurrency, total: options.throughputEmails }),
    );
    results.pipeline.twoMailers = two;
    log(describe(two));

    for (const [i, m] of stack.mailers.entries()) if (m.pid) results.peakRssMb[`mailer ${i}`] = mb(readMemory(m.pid)?.hwmKb);
    results.accept = await phase('API vs raw pg', () => apiVersusPg(ctx, stack));
    log(`accept rate: API ${results.accept.api.acceptRate}/s, raw pg ${results.accept.pg.acceptRate}/s`);
    if (stack.business.pid) results.peakRssMb.business = mb(readMemory(stack.business.pid)?.hwmKb);
  } catch (error) {
    notes.push(`The run stopped early: ${error instanceof Error ? error.message : String(error)}`);
    log(`FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exitCode = 1;
  } finally {
    await backlog?.stop();
    results.backlog.points = backlog?.points ?? [];
    sampler.stop();
    for (const [app, lines] of Object.entries(stack.problems())) results.appLogProblems[app] = { count: lines.length, kinds: problemKinds(lines), first: lines.slice(0, 20) };
    await stack.stop().catch((e: unknown) => notes.push(`Stopping the stack failed: ${String(e)}`));
    await Promise.all([sink.stop(), load.stop()]);
    if (profileDir && results.profile) results.profile.cpu = cpuProfiles(profileDir);
  }

  const { raw, bullmq: bull } = results.baselines;
  const ours = results.pipeline.closed;
  results.ratios = {
    'ours/BullMQ (mails/s at sink, closed loop, 1 mailer)': ratio(ours?.sinkRate, bull?.sinkRate),
    'ours/raw nodemailer (mails/s at sink)': ratio(ours?.sinkRate, raw?.sinkRate),
    'ours 2 mailers / 1 mailer (mails/s at sink)': ratio(results.pipeline.twoMailers?.sinkRate, ours?.sinkRate),
    'API/raw pg (accepted/s)': ratio(results.accept?.api.acceptRate, results.accept?.pg.acceptRate),
  };
  addNotes(results);
  results.finishedAt = new Date().toISOString();
  const file = writeReport(results);
  log(`wrote ${file}, bench/results/latest.md, bench/results/latest-latency.svg`);
  for (const [k, v] of Object.entries(results.ratios)) console.log(`  ${k}: ${v ?? 'n/a'}`);
}

/** The summaries of the CPU profiles the apps wrote when they exited. */
function cpuProfiles(dir: string): ReturnType<typeof summarizeCpuProfile>[] {
  try {
    return readdirSync(dir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => summarizeCpuProfile(join(dir, f)));
  } catch {
    return [];
  }
}

/** Log lines grouped by their message with times, ids and numbers taken out, with counts. */
function problemKinds(lines: string[]): Record<string, number> {
  const kinds: Record<string, number> = {};
  for (const line of lines) {
    const kind = line
      .replace(/^.*?\b(WARN|ERROR)\b\s*/, '$1 ')
      .replace(/\{.*$/, '')
      .replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<id>')
      .replace(/\d+/g, 'N')
      .trim()
      .slice(0, 160);
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return kinds;
}

const mb = (kb: number | undefined) => Math.round((kb ?? 0) / 102.4) / 10;

/** What a reader must know to trust (or not) the numbers of this run. */
function addNotes(r: BenchResults): void {
  const notes = r.notes;
  notes.push('Every process (apps, Kafka, PostgreSQL, Redis, sink, load generator) shares this machine\'s CPUs; nothing is pinned.');
  notes.push('Status applied = business `emails.updated_at` of the `sent` row, which is PostgreSQL now(): the start of the applying transaction, a few ms before its commit.');
  notes.push('API alone: the business app runs its outbox relay (publishing to Kafka) while accepting; no mailer consumes during that run.');
  notes.push('Raw pg writes the same two rows (same statements, columns and indexes, the email module\'s migrations) in one transaction; its request hash is a sha256 of the JSON request, not `requestHash()`.');
  for (const run of [r.pipeline.closed, r.pipeline.twoMailers, ...r.pipeline.knee.steps, r.pipeline.sustained]) {
    if (!run) continue;
    if (!run.drained) notes.push(`${run.label} (${run.mailers} mailer(s)): not every accepted email reached \`sent\` within the drain timeout (${run.applied}/${run.accepted}).`);
    if (run.delivered > 0 && run.delivered < run.accepted) notes.push(`${run.label}: ${run.accepted - run.delivered} accepted emails never reached the sink in time.`);
    if (run.duplicates > 0) notes.push(`${run.label} (${run.mailers} mailer(s)): the sink received ${run.duplicates} messages twice or more for the same email.`);
    if (run.notSent > 0) notes.push(`${run.label}: the load generator skipped ${run.notSent} requests (over 5,000 open at once).`);
    if (run.maxSendLagMs > 50) notes.push(`${run.label}: the load generator sent up to ${run.maxSendLagMs} ms behind schedule (counted in the latencies).`);
    const errors = Object.entries(run.errors);
    if (errors.length) notes.push(`${run.label}: request errors ${errors.map(([e, c]) => `${c}× ${e}`).join('; ')}`);
  }
  for (const b of [r.baselines.raw, r.baselines.bullmq]) {
    if (b && (b.failed > 0 || b.delivered !== b.emails)) notes.push(`${b.label}: ${b.failed} failed sends, ${b.delivered}/${b.emails} counted at the sink.`);
  }
  if (r.options.mode !== 'long') notes.push('RSS flatness under 10 minutes of sustained load is measured only with `--long`.');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
