import type { LatencySummary } from '../lib/stats.js';
import type { BenchResults } from './results.js';

const n = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : String(v));
const lat = (s: LatencySummary | null | undefined) => (s ? `${s.p50} / ${s.p95} / ${s.p99} / ${s.max}` : 'n/a');
const row = (cells: (string | number | null | undefined)[]) => `| ${cells.map((c) => (c === null || c === undefined ? 'n/a' : String(c))).join(' | ')} |`;

const CPU_GROUPS = ['business', 'mailer', 'kafka', 'postgres', 'postgres-aux', 'redis', 'raw-nodemailer', 'bullmq', 'sink', 'load-generator', 'others'];

function cpuCells(cpu: Record<string, number> | undefined): string[] {
  return CPU_GROUPS.map((g) => (cpu && g in cpu ? String(cpu[g]) : '–'));
}

/** `bench/results/latest.md`: the tables of one run. */
export function toMarkdown(r: BenchResults): string {
  const out: string[] = [];
  out.push(`# Benchmark ${r.startedAt}`, '');
  out.push(`\`${r.command}\` (mode ${String(r.options.mode)}), ${r.machine.cpus} CPUs, Node ${r.machine.node}, load average at start ${r.machine.loadAverageAtStart.join(' ')}, other processes busy on ${n(r.machine.otherCoresBusyAtStart)} cores before the run.`);
  out.push(`Mailer settings changed from its defaults: ${Object.entries(r.mailerEnv).map(([k, v]) => `${k}=${v}`).join(', ') || 'none'}.`, '');

  out.push('## Throughput (closed loop, same message, same sink)', '');
  out.push(row(['Scenario', 'Emails', 'Duplicates at sink', 'Mails/s at sink', 'Accepted/s (API)', 'End-to-end/s (to status applied)', 'Latency to SMTP accept p50/p95/p99/max ms', 'To status applied p50/p95/p99/max ms']));
  out.push(row(['---', '---:', '---:', '---:', '---:', '---:', '---:', '---:']));
  const { raw, bullmq } = r.baselines;
  if (raw) out.push(row([raw.label, raw.emails, Math.max(0, raw.delivered - raw.emails), raw.sinkRate, '–', '–', '–', '–']));
  if (bullmq) out.push(row([bullmq.label, bullmq.emails, Math.max(0, bullmq.delivered - bullmq.emails), bullmq.sinkRate, '–', '–', '–', '–']));
  for (const run of [r.pipeline.closed, r.pipeline.twoMailers]) {
    if (!run) continue;
    out.push(row([`ours, ${run.mailers} mailer${run.mailers > 1 ? 's' : ''}, ${run.label}`, run.accepted, run.duplicates, run.sinkRate, run.acceptRate, run.endToEndRate, lat(run.latency.smtp), lat(run.latency.applied)]));
  }
  out.push('', 'Closed-loop latencies count from the moment each client sent its request (not an open-loop schedule).', '');

  out.push('## Ratios', '');
  for (const [k, v] of Object.entries(r.ratios)) out.push(`- ${k}: **${n(v)}**`);
  out.push('');

  out.push('## Latency against offered load (open loop, one mailer)', '');
  out.push(`Knee: ${r.pipeline.knee.kneeRate === null ? 'below the lowest step' : `${r.pipeline.knee.kneeRate} emails/s is the highest step that held (p99 to SMTP accept ≤ 1 s, ≥ 90 % of the offered rate at the sink, nothing undelivered)`}.`, '');
  out.push(row(['Offered/s', 'Achieved/s at sink', 'Accepted', 'Delivered', 'Applied', 'API answer p50/p95/p99/max ms', 'To SMTP accept p50/p95/p99/max ms', 'To status applied p50/p95/p99/max ms', 'Drained']));
  out.push(row(['---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---']));
  for (const s of r.pipeline.knee.steps) {
    const offered = s.load.shape === 'open' ? s.load.rate : 'n/a';
    out.push(row([offered, s.achievedRate, `${s.accepted}/${s.requests}`, s.delivered, s.applied, lat(s.latency.api), lat(s.latency.smtp), lat(s.latency.applied), s.drained ? 'yes' : 'no']));
  }
  out.push('', 'Open-loop latencies count from each request\'s scheduled time. Chart: `latest-latency.svg`.', '');

  if (r.pipeline.sustained) {
    const s = r.pipeline.sustained;
    out.push('## Sustained load (--long)', '');
    out.push(`${s.label}: accepted ${s.accepted}/${s.requests}, achieved ${n(s.achievedRate)}/s, to SMTP ${lat(s.latency.smtp)} ms, to applied ${lat(s.latency.applied)} ms.`);
    const first = s.rss[0];
    const mid = s.rss[Math.floor(s.rss.length / 2)];
    const last = s.rss[s.rss.length - 1];
    for (const app of ['business', 'mailer']) {
      out.push(`- ${app} RSS MiB at start / middle / end: ${n(first?.rssMb[app])} / ${n(mid?.rssMb[app])} / ${n(last?.rssMb[app])}`);
    }
    out.push('');
  }

  if (r.accept) {
    out.push(`## Accept rate: the API against raw pg (${String(r.options.concurrency)} closed-loop clients)`, '');
    out.push(row(['Writer', 'Requests', 'Accepted', 'Accepted/s', 'Latency p50/p95/p99/max ms']));
    out.push(row(['---', '---:', '---:', '---:', '---:']));
    for (const a of [r.accept.api, r.accept.pg]) out.push(row([a.label, a.requests, a.accepted, a.acceptRate, lat(a.latency)]));
    out.push('');
  }

  out.push('## CPU seconds per 1,000 emails, per process', '');
  out.push(row(['Run', ...CPU_GROUPS]));
  out.push(row(['---', ...CPU_GROUPS.map(() => '---:')]));
  if (raw) out.push(row([raw.label, ...cpuCells(raw.cpuPer1000)]));
  if (bullmq) out.push(row([bullmq.label, ...cpuCells(bullmq.cpuPer1000)]));
  for (const run of [r.pipeline.closed, ...r.pipeline.knee.steps, r.pipeline.twoMailers, r.pipeline.sustained]) {
    if (run) out.push(row([`ours: ${run.label}, ${run.mailers} mailer(s)`, ...cpuCells(run.cpuPer1000)]));
  }
  if (r.accept) for (const a of [r.accept.api, r.accept.pg]) out.push(row([a.label, ...cpuCells(a.cpuPer1000)]));
  if (r.pipeline.idleCpuPerSecond) out.push(row(['ours idle, 1 mailer: CPU s per second (not per 1,000)', ...cpuCells(r.pipeline.idleCpuPerSecond)]));
  out.push('', 'From `/proc/<pid>/stat` utime+stime deltas over each run (including the wait for its backlog to drain). ' +
    '`postgres` = the backends connected to the run\'s databases; `postgres-aux` = the postmaster, WAL writer, checkpointer, ' +
    'background writer and autovacuum, shared by every database on the server; Kafka and Redis are whole shared servers ' +
    '(anything else using them is included). `mailer` sums its instances. `others` = the machine\'s busy CPU (/proc/stat) ' +
    'minus every sampled process (the columns and the bench\'s own orchestrator): work this run did not do, e.g. another test run.', '');

  out.push('## Peak RSS (VmHWM), MiB', '');
  for (const [k, v] of Object.entries(r.peakRssMb)) out.push(`- ${k}: ${v}`);
  out.push('');

  out.push('## Backlogs (largest value sampled each second, per phase)', '');
  out.push(row(['Phase', 'business outbox pending', 'mailer outbox pending', 'Kafka lag mailer.requests.transactional', 'Kafka lag business.email-events', 'BullMQ send-transactional waiting']));
  out.push(row(['---', '---:', '---:', '---:', '---:', '---:']));
  for (const phase of r.backlog.phases) {
    const pts = r.backlog.points.filter((p) => p.t >= phase.start && p.t <= phase.end);
    const max = (f: (p: (typeof pts)[number]) => number | null | undefined) => {
      const vals = pts.map(f).filter((v): v is number => typeof v === 'number');
      return vals.length ? Math.max(...vals) : null;
    };
    out.push(row([
      phase.name,
      max((p) => p.businessOutboxPending),
      max((p) => p.mailerOutboxPending),
      max((p) => p.kafkaLag['mailer.requests.transactional']),
      max((p) => p.kafkaLag['business.email-events']),
      max((p) => p.queues['send-transactional']?.waiting),
    ]));
  }
  out.push('', 'The full series (one point a second) is in the JSON file.', '');

  if (r.profile) out.push(...profileSection(r.profile));

  out.push('## Notes', '');
  for (const note of r.notes) out.push(`- ${note}`);
  for (const [app, p] of Object.entries(r.appLogProblems)) {
    if (p.count === 0) continue;
    out.push(`- ${app} log: ${p.count} WARN/ERROR lines: ${Object.entries(p.kinds).map(([k, c]) => `${c}× \`${k}\``).join('; ')}`);
  }
  out.push('');
  return out.join('\n');
}

/** `--profile`: where PostgreSQL and each app spent their time. */
function profileSection(profile: NonNullable<BenchResults['profile']>): string[] {
  const out = ['## Profile (--profile)', '', `Statements: ${profile.statementsNote}.`, ''];
  if (profile.statements.length > 0) {
    out.push(row(['Database', 'Calls', 'Calls/email', 'Total ms', 'Mean ms', 'Statement']));
    out.push(row(['---', '---:', '---:', '---:', '---:', '---']));
    for (const s of profile.statements) out.push(row([s.database, s.calls, s.callsPerEmail, s.totalMs, s.meanMs, `\`${s.query.replace(/\|/g, '\\|')}\``]));
    out.push('');
  }
  for (const cpu of profile.cpu) {
    out.push(`CPU profile \`${cpu.file}\` (${cpu.busyMs} ms sampled busy): by owner ${cpu.byOwner.slice(0, 10).map((o) => `${o.owner} ${o.share} %`).join(', ')}.`, '');
    out.push(row(['Function (self time)', 'ms', '%']));
    out.push(row(['---', '---:', '---:']));
    for (const f of cpu.topFunctions.slice(0, 12)) out.push(row([`\`${f.fn}\``, f.ms, f.share]));
    out.push('');
  }
  return out;
}
