import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { Redis } from 'ioredis';
import { sleep } from '@app/common';
import { CONTRACT_VERSION, contractTopics, emailRequestedMessageSchema } from '@app/contracts';
import { waitFor } from '@app/testing';
import { EmailLoopStack, REDIS_URL, type StackOptions } from './stack.js';
import { PrivateKafka } from './infra/private-kafka.js';
import { PrivateKafkaCluster } from './infra/private-kafka-cluster.js';
import { PrivatePostgres } from './infra/private-postgres.js';
import { StatusMonitor } from './faults/status-monitor.js';
import { KafkaTools, type GroupMember } from './faults/kafka-tools.js';

/**
 * The fault suite: for each scenario a fresh stack, a load of LOAD emails with distinct
 * recipients, one fault injected mid-stream, then a count of what the SMTP server received and
 * what the API reports. `FAULT_EMAIL_COUNT` scales the load (README: the full run).
 */
const LOAD = Number(process.env.FAULT_EMAIL_COUNT ?? 1000);

interface ScenarioResult {
  scenario: string;
  requested: number;
  sent: number;
  failedAsExpected: number;
  duplicated: number;
  lost: number;
  /** SIGKILLs (or commit failures) that hit the SMTP window: each may duplicate what was in flight. */
  windowInterruptions: number;
  /** Emails a `hold` lane marked `unknown` instead of resending (then reconciled). */
  heldUnknown: number;
  deadLettered: Record<string, number>;
  seconds: number;
}

interface FaultContext {
  stack: EmailLoopStack;
  kafka: KafkaTools;
  kafkaBroker?: PrivateKafka;
  /** The scenario's private cluster, with `privateCluster`. */
  cluster?: PrivateKafkaCluster;
  postgres?: PrivatePostgres;
  /** Resolves once `n` requests were accepted by the business API (rejects after `timeoutMs`, default 120 s). */
  accepted(n: number, timeoutMs?: number): Promise<void>;
  /** Requests the business API accepted so far. */
  acceptedCount(): number;
  /** Resolves once the SMTP server received `n` messages. */
  delivered(n: number): Promise<void>;
}

interface FaultOutcome {
  windowInterruptions?: number;
  /** Poison messages the fault published, per dead-letter topic (without prefix). */
  expectedDeadLetters?: Record<string, number>;
  /** Called after every email is final (or `unknown`), before counting (e.g. to stop a chaos publisher). */
  settle?: () => Promise<void>;
  /** Settles emails a `hold` lane marked `unknown`; without it, `unknown` is a failure. */
  reconcile?: () => Promise<void>;
}

interface Scenario {
  name: string;
  stack?: StackOptions;
  /** Runs the scenario on a private broker / PostgreSQL server it may stop. */
  privateKafka?: boolean;
  /** Runs it on a private broker that is still down when the apps start (the fault starts it). */
  kafkaDownAtStart?: boolean;
  privatePostgres?: boolean;
  /**
   * Runs it on a private KRaft cluster of this many brokers; the load starts once every topic
   * exists with min(3, brokers) replicas and its min.insync.replicas (checked).
   */
  privateCluster?: number;
  /** Runs after that check, before the first request is posted (e.g. a broker down for the whole run). */
  beforeLoad?(ctx: Pick<FaultContext, 'stack' | 'kafka' | 'cluster'>): Promise<void>;
  /**
   * Spreads the load's batches over about this long instead of posting them back to back, so
   * requests keep arriving during a fault that lasts a while (whatever FAULT_EMAIL_COUNT is).
   */
  loadSpreadMs?: number;
  /** Recipients the SMTP server refuses with 550 for the whole run. */
  refuse550?: (index: number) => boolean;
  fault(ctx: FaultContext): Promise<FaultOutcome>;
}

const results: ScenarioResult[] = [];

/**
 * A client that retries until the business app answers, as a real client would during a restart.
 * Resolves with null once `abandoned()` (the scenario failed and its stack is going away).
 */
async function postUntilAccepted(stack: EmailLoopStack, body: unknown, idempotencyKey: string, abandoned: () => boolean): Promise<string | null> {
  return waitFor<string | null>(
    async () => {
      if (abandoned()) return null;
      const res = await stack.post('/v1/emails', body, { 'Idempotency-Key': idempotencyKey });
      return res.status === 202 ? (res.body.id as string) : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 250, description: 'the business app to accept a request' },
  );
}

async function countRows(databaseUrl: string, sql: string): Promise<Map<string, number>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ key: string; n: number }>(sql);
    return new Map(rows.map((r) => [r.key, Number(r.n)]));
  } finally {
    await client.end();
  }
}

async function countAll(databaseUrl: string, table: string): Promise<number> {
  return (await countRows(databaseUrl, `SELECT 'all' AS key, count(*) AS n FROM ${table}`)).get('all') ?? 0;
}

/** Deletes this test's BullMQ keys (only these: other suites may share the Redis server). */
async function wipeQueueKeys(stack: EmailLoopStack): Promise<number> {
  const redis = new Redis(REDIS_URL);
  try {
    const keys = await redis.keys(`${stack.id}:*`);
    if (keys.length > 0) await redis.del(...keys);
    return keys.length;
  } finally {
    await redis.quit();
  }
}

/** `GET /health/ready` of one app: 200 when every dependency is up, 503 otherwise. */
async function readiness(baseUrl: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${baseUrl}/health/ready`);
  return { status: res.status, body: await res.json().catch(() => null) };
}

/** A readiness body that names Kafka as down (`"kafka": { "status": "down", ... }`, any shape that keeps the two together). */
const KAFKA_DOWN = /kafka[^}]*down/i;

/** `outbox` is the table's qualified name: `email_loop.outbox` (business, the module's schema) or `outbox` (mailer, `public`). */
async function outboxBacklog(databaseUrl: string, outbox: string): Promise<{ pending: number; dead: number }> {
  const counts = await countRows(
    databaseUrl,
    `SELECT CASE WHEN dead_lettered_at IS NULL THEN 'pending' ELSE 'dead' END AS key, count(*) AS n
     FROM ${outbox} WHERE published_at IS NULL GROUP BY 1`,
  );
  return { pending: counts.get('pending') ?? 0, dead: counts.get('dead') ?? 0 };
}

/**
 * Waits until the apps created every contract topic (dead-letter topics included), then checks
 * that each partition has min(3, brokers) replicas, all in sync, and the topic min.insync.replicas
 * 2 (1 below 3 replicas): the apps' defaults, nothing configured.
 */
async function expectReplicatedTopics(kafka: KafkaTools, brokers: number): Promise<void> {
  const replicas = Math.min(3, brokers);
  for (const topic of contractTopics()) {
    const partitions = await waitFor(
      async () => {
        const found = await kafka.partitions(topic).catch(() => []);
        return found.length > 0 && found.every((p) => p.isr.length === replicas) ? found : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500, description: `${topic} to exist with ${replicas} in-sync replicas` },
    );
    expect(partitions.map((p) => p.replicas.length), `${topic} replicas per partition`).toEqual(partitions.map(() => replicas));
    expect(await kafka.minInsyncReplicas(topic), `${topic} min.insync.replicas`).toBe(replicas >= 3 ? 2 : 1);
  }
}

/** SIGKILLs the broker that leads most partitions of `topic`, and waits until every partition has a leader again. */
async function killLeaderOf(cluster: PrivateKafkaCluster, kafka: KafkaTools, topic: string): Promise<number> {
  const leader = await kafka.busiestLeader(topic);
  const killedAt = Date.now();
  await cluster.stop(leader, 'SIGKILL');
  const moved = await waitFor(
    async () => {
      const partitions = await kafka.partitions(topic).catch(() => []);
      return partitions.length > 0 && partitions.every((p) => p.leader >= 0 && p.leader !== leader) ? partitions : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 250, description: `new leaders for ${topic} after broker ${leader} was killed` },
  );
  console.log(
    `[faults] killed broker ${leader} (leader of ${topic}); new leaders after ${((Date.now() - killedAt) / 1000).toFixed(1)} s: ` +
      JSON.stringify(moved.map((p) => ({ partition: p.partition, leader: p.leader, isr: p.isr }))),
  );
  return leader;
}

async function runScenario(scenario: Scenario, cleanup: (fn: () => Promise<void>) => void): Promise<ScenarioResult> {
  const started = Date.now();
  const stack = new EmailLoopStack();
  const options: StackOptions = { ...scenario.stack };
  const ctx: Pick<FaultContext, 'kafkaBroker' | 'postgres' | 'cluster'> = {};
  if (scenario.privateKafka || scenario.kafkaDownAtStart) {
    const broker = new PrivateKafka();
    cleanup(() => broker.destroy());
    // Down at start: the apps get its address, the broker comes up when the fault starts it.
    if (scenario.kafkaDownAtStart) await broker.reservePorts();
    else await broker.start();
    ctx.kafkaBroker = broker;
    options.kafkaBrokers = broker.brokers;
  }
  if (scenario.privateCluster) {
    const cluster = new PrivateKafkaCluster(scenario.privateCluster);
    cleanup(() => cluster.destroy());
    await cluster.start();
    ctx.cluster = cluster;
    options.kafkaBrokers = cluster.brokers;
  }
  if (scenario.privatePostgres) {
    const postgres = new PrivatePostgres();
    cleanup(() => postgres.destroy());
    await postgres.start();
    ctx.postgres = postgres;
    options.postgresAdminUrl = postgres.adminUrl;
  }
  cleanup(async () => void (await stack.stop()));
  await stack.start(options);
  const kafka = new KafkaTools(stack.kafkaBrokers, stack.topicPrefix);
  if (ctx.cluster) await expectReplicatedTopics(kafka, ctx.cluster.size);
  await scenario.beforeLoad?.({ ...ctx, stack, kafka });

  const recipients = Array.from({ length: LOAD }, (_, i) => `${scenario.name}-${i}@example.test`);
  const refused = new Set(recipients.filter((_, i) => scenario.refuse550?.(i)));
  stack.smtp.refuseRecipients((address) => (refused.has(address) ? { code: 550, message: 'No such user here' } : null));

  const monitor = new StatusMonitor(stack.businessDatabaseUrl, stack.mailerDatabaseUrl);
  cleanup(() => monitor.stop()); // runs before the stack stops; a no-op once stopped below
  monitor.start();
  const ids: string[] = [];
  let abandoned = false;
  const batches = Math.ceil(recipients.length / 25);
  const pauseMs = scenario.loadSpreadMs ? scenario.loadSpreadMs / batches : 0;
  const load = (async () => {
    for (let i = 0; i < recipients.length && !abandoned; i += 25) {
      const batch = recipients.slice(i, i + 25);
      const accepted = await Promise.all(
        batch.map((to) => postUntilAccepted(stack, { to, subject: scenario.name, text: 'x' }, `${scenario.name}-${to}`, () => abandoned)),
      );
      if (abandoned) return;
      ids.push(...(accepted as string[]));
      if (pauseMs > 0 && i + 25 < recipients.length) await sleep(pauseMs);
    }
  })();
  let outcome: FaultOutcome;
  try {
    outcome = await scenario.fault({
      ...ctx,
      stack,
      kafka,
      accepted: async (n: number, timeoutMs = 120_000) => {
        await waitFor(() => ids.length >= n || undefined, { timeoutMs, description: `${n} accepted requests (${ids.length} so far)` });
      },
      acceptedCount: () => ids.length,
      delivered: async (n: number) => {
        await waitFor(() => stack.smtp.mails.length >= n || undefined, { timeoutMs: 120_000, description: `${n} delivered mails` });
      },
    });
  } catch (error) {
    // The scenario failed: stop the load's clients instead of leaving them retrying against a stack that goes away.
    abandoned = true;
    await load.catch(() => undefined);
    throw error;
  }
  await load;

  const waitForFinals = async (settled: string[]) => {
    let statuses = new Map<string, number>();
    try {
      return await waitFor(
        async () => {
          const views = await Promise.all(ids.map((id) => stack.get(`/v1/emails/${id}`)));
          statuses = new Map();
          for (const v of views) statuses.set(v.body?.status ?? `HTTP ${v.status}`, (statuses.get(v.body?.status ?? `HTTP ${v.status}`) ?? 0) + 1);
          return views.every((v) => settled.includes(v.body?.status)) ? views.map((v) => v.body) : undefined;
        },
        { timeoutMs: 180_000, intervalMs: 1_000, description: `every ${scenario.name} email to reach ${settled.join('/')}` },
      );
    } catch (error) {
      const counts = JSON.stringify(Object.fromEntries(statuses));
      const delivered = stack.smtp.mails.length;
      throw new Error(`${(error as Error).message}; statuses at the end: ${counts}; ${delivered} mails at the SMTP server`, { cause: error });
    }
  };
  const settledOrHeld = await waitForFinals(['sent', 'failed', 'unknown']);
  const heldUnknown = settledOrHeld.filter((v) => v.status === 'unknown').length;
  await outcome.reconcile?.();
  const finals = await waitForFinals(['sent', 'failed']);
  await outcome.settle?.();

  // Every status event the mailer produced is applied exactly once: per email, the business
  // history holds exactly the events the mailer's outbox holds (published or not).
  const eventQuery = `SELECT email_id::text AS key, count(*) AS n FROM email_loop.email_events GROUP BY 1`;
  const producedQuery = `SELECT message_key AS key, count(*) AS n FROM outbox WHERE topic LIKE '%mail.events' GROUP BY 1`;
  const [applied, produced] = await waitFor(
    async () => {
      const a = await countRows(stack.businessDatabaseUrl, eventQuery);
      const p = await countRows(stack.mailerDatabaseUrl, producedQuery);
      return ids.every((id) => (a.get(id) ?? 0) === (p.get(id) ?? -1)) ? [a, p] : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 500, description: 'the status histories to match what the mailer produced' },
  ).catch(async () => [
    await countRows(stack.businessDatabaseUrl, eventQuery),
    await countRows(stack.mailerDatabaseUrl, producedQuery),
  ]);
  await monitor.stop();

  const counts = stack.smtp.countByRecipient();
  const deadLettered = await kafka.deadLetterCounts();
  const expectedToSend = recipients.filter((r) => !refused.has(r));
  const windowInterruptions = outcome.windowInterruptions ?? 0;
  const result: ScenarioResult = {
    scenario: scenario.name,
    requested: LOAD,
    sent: expectedToSend.filter((r) => (counts.get(r) ?? 0) >= 1).length,
    failedAsExpected: finals.filter((f) => f.status === 'failed' && refused.has(f.to[0])).length,
    duplicated: recipients.reduce((n, r) => n + Math.max(0, (counts.get(r) ?? 0) - 1), 0),
    lost: expectedToSend.filter((r) => !counts.has(r)).length,
    windowInterruptions,
    heldUnknown,
    deadLettered: Object.fromEntries(Object.entries(deadLettered).filter(([, n]) => n > 0)),
    seconds: Math.round((Date.now() - started) / 1000),
  };
  results.push(result);
  console.log(`[faults] ${JSON.stringify(result)}`);

  expect(ids).toHaveLength(LOAD);
  expect(new Set(ids).size).toBe(LOAD); // idempotency keys made client retries safe
  expect(result.lost).toBe(0);
  for (const view of finals) {
    if (refused.has(view.to[0])) {
      expect(view.status, `${view.to[0]} was refused with 550`).toBe('failed');
      expect(view.events.find((e: any) => e.type === 'email.failed')?.detail.smtpCode).toBe(550);
      expect(stack.smtp.recipientAttempts.get(view.to[0]), `${view.to[0]} tried once`).toBe(1);
    } else {
      expect(view.status, `${view.to[0]}`).toBe('sent');
    }
  }
  // A duplicate is allowed only for an email in flight when the SMTP window was interrupted:
  // each email at most once more per interruption, and no more emails than were in flight.
  const copies = recipients.filter((r) => (counts.get(r) ?? 0) > 1).map((r) => `${r} ×${counts.get(r)}`);
  expect(Math.max(...recipients.map((r) => counts.get(r) ?? 0)), `most copies of one email (duplicated: ${copies.join(', ') || 'none'})`).toBeLessThanOrEqual(
    1 + windowInterruptions,
  );
  // "In flight" is bounded by the SMTP connection pool, not by the send concurrency (20 jobs may
  // run at once, but the ones without a connection wait in the pool's queue, before any SMTP
  // traffic). Per mailer instance, each of the pool's connections holds at most two emails
  // whose outcome is not committed yet: one in DATA (the server may have stored it while the
  // client never reads the 250) and one finished (250 read) whose outcome the worker is still
  // committing while the connection already carries the next message. Hence 2 × pool size per
  // instance per interruption; every instance counts, including ones added during the run.
  const inFlightBound = 2 * stack.smtpPoolSize * stack.mailers.length;
  expect(result.duplicated, `duplicates (${windowInterruptions} window interruption(s) × ${inFlightBound} in flight at most)`).toBeLessThanOrEqual(
    windowInterruptions * inFlightBound,
  );
  expect(monitor.violations, 'statuses that moved backwards (business) or changed after a final status (mailer)').toEqual([]);
  expect(monitor.ticks).toBeGreaterThan(3);
  expect(monitor.mailerTicks).toBeGreaterThan(3);
  for (const id of ids) expect(applied.get(id) ?? 0, `events applied for ${id}`).toBe(produced.get(id) ?? -1);
  expect(result.deadLettered).toEqual(outcome.expectedDeadLetters ?? {});
  // Rows a killed relay published but could not mark go out again once its lease expires.
  for (const [databaseUrl, outbox] of [
    [stack.businessDatabaseUrl, 'email_loop.outbox'],
    [stack.mailerDatabaseUrl, 'outbox'],
  ] as const) {
    const drained = async () => {
      const backlog = await outboxBacklog(databaseUrl, outbox);
      return backlog.pending === 0 ? backlog : undefined;
    };
    expect(await waitFor(drained, { timeoutMs: 40_000, intervalMs: 500, description: 'the outbox to drain' })).toEqual({ pending: 0, dead: 0 });
  }
  return result;
}

const scenarios: Scenario[] = [
  {
    name: 'kill-mailer',
    async fault({ stack, accepted, delivered }) {
      await accepted(LOAD / 4);
      await delivered(20);
      await stack.mailer!.stop('SIGKILL');
      await stack.mailer!.start();
      return { windowInterruptions: 1 };
    },
  },
  {
    name: 'kill-mailer-hold-lane',
    stack: { mailerEnv: { UNCONFIRMED_SEND_TRANSACTIONAL: 'hold' } },
    async fault({ stack, accepted, delivered }) {
      await accepted(LOAD / 4);
      await delivered(20);
      // The server keeps each message but delays its 250: killing the mailer now leaves the
      // emails in flight in the SMTP window, deterministically.
      stack.smtp.delayAcceptance(3_000);
      await delivered(stack.smtp.mails.length + 5);
      await stack.mailer!.stop('SIGKILL');
      stack.smtp.delayAcceptance(0);
      await stack.mailer!.start();
      return {
        // No resend on a hold lane: the window costs no duplicate, only a manual decision.
        reconcile: async () => {
          const unconfirmed = await waitFor(
            async () => {
              const res = await fetch(`${stack.mailerUrl}/v1/unconfirmed`, { headers: stack.authHeaders('mailer') });
              const body = (await res.json()) as { items: { emailId: string }[] };
              return body.items.length >= 5 ? body.items : undefined;
            },
            { timeoutMs: 60_000, description: 'the emails in the window to be held as unknown' },
          );
          for (const { emailId } of unconfirmed) {
            // What an operator does with the provider's logs: look the Message-ID up.
            const delivered = stack.smtp.mails.some((m) => m.emailId === emailId);
            const res = await fetch(`${stack.mailerUrl}/v1/unconfirmed/${emailId}/reconcile`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', ...stack.authHeaders('mailer') },
              body: JSON.stringify({ outcome: delivered ? 'delivered' : 'resend', note: 'fault suite' }),
            });
            expect(res.status).toBe(200);
          }
        },
      };
    },
  },
  {
    name: 'kill-business',
    async fault({ stack, accepted }) {
      await accepted(LOAD / 3);
      await stack.business!.stop('SIGKILL');
      await stack.business!.start();
      return {}; // killing business cannot duplicate an SMTP hand-off
    },
  },
  {
    name: 'two-of-each-one-killed',
    stack: { businessInstances: 2, mailerInstances: 2 },
    async fault({ stack, accepted, delivered }) {
      await accepted(LOAD / 3);
      await delivered(20);
      // Not restarted: the surviving instances must take over the relay, partitions and jobs.
      await Promise.all([stack.businesses[0]!.stop('SIGKILL'), stack.mailers[0]!.stop('SIGKILL')]);
      return { windowInterruptions: 1 };
    },
  },
  {
    name: 'kafka-broker-restart',
    privateKafka: true,
    async fault({ kafkaBroker, accepted }) {
      // Twice: a controlled shutdown, then a crash (the broker recovers from its log).
      await accepted(LOAD / 4);
      await kafkaBroker!.stop('SIGTERM');
      await sleep(8_000);
      await kafkaBroker!.start();
      await accepted(LOAD / 2);
      await kafkaBroker!.stop('SIGKILL');
      await sleep(3_000);
      await kafkaBroker!.start();
      return {};
    },
  },
  {
    name: 'postgres-restart',
    privatePostgres: true,
    async fault({ stack, postgres, accepted, delivered }) {
      await accepted(LOAD / 3);
      await delivered(20);
      await postgres!.stop('fast');
      // An outage is not a bug: the API refuses with 503 and Retry-After (clients retry), never 500.
      const refused = await fetch(`${stack.businessUrl}/v1/emails`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'Idempotency-Key': 'postgres-down-probe', ...stack.authHeaders() },
        body: JSON.stringify({ to: 'probe@example.test', subject: 'probe', text: 'x' }),
      });
      expect(refused.status).toBe(503);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      const ready = await fetch(`${stack.businessUrl}/health/ready`);
      expect(ready.status).toBe(503);
      expect(JSON.stringify(await ready.json())).toMatch(/"database":\{[^}]*"status":"down"/);
      await sleep(3_000);
      await postgres!.start();
      // The mailer holds a known SMTP outcome until PostgreSQL is back: no resend.
      return {};
    },
  },
  {
    name: 'flush-redis',
    stack: { mailerEnv: { SWEEP_INTERVAL_MS: '2000' } },
    async fault({ stack, accepted }) {
      await accepted(LOAD / 3);
      await wipeQueueKeys(stack);
      return {};
    },
  },
  {
    name: 'smtp-4xx-then-550s',
    refuse550: (i) => i % 40 === 7,
    async fault({ stack, accepted }) {
      await accepted(LOAD / 4);
      // The 550 recipients keep getting 550 (they must be tried once); everyone else gets
      // 421 or 451 for a while.
      const steady = stack.smtp.recipientPolicy;
      let n = 0;
      stack.smtp.refuseRecipients(
        (address) =>
          steady(address) ??
          (n++ % 2 ? { code: 421, message: 'Service not available, try again later' } : { code: 451, message: 'Local error, try later' }),
      );
      await sleep(3_000);
      stack.smtp.refuseRecipients(steady);
      return {};
    },
  },
  {
    name: 'smtp-unreachable',
    async fault({ stack, accepted, delivered }) {
      await accepted(LOAD / 4);
      await delivered(20);
      await stack.smtpGate.cut();
      await sleep(5_000);
      await stack.smtpGate.open();
      // Connections reset mid-DATA: the server may have the message while the client saw an error.
      return { windowInterruptions: 1 };
    },
  },
  {
    name: 'replay-from-offset-0',
    async fault({ stack, kafka, accepted }) {
      await accepted(LOAD / 2);
      await Promise.all([stack.business!.stop('SIGTERM'), stack.mailer!.stop('SIGTERM')]);
      await kafka.rewind('mailer.requests.transactional', 'mail.requests.transactional');
      await kafka.rewind('business.email-events', 'mail.events');
      await Promise.all([stack.business!.start(), stack.mailer!.start()]);
      return {};
    },
  },
  {
    name: 'events-out-of-order-and-twice',
    async fault({ stack, kafka, accepted }) {
      const stopChaos = await kafka.startChaos('mail.events');
      await accepted(LOAD / 4);
      // Poison on both consumer paths: each must be dead-lettered, not block its partition.
      await kafka.publishRaw('mail.events', 'poison', '{not json');
      await kafka.publishRaw('mail.requests.transactional', 'poison', JSON.stringify({ type: 'email.requested' }));
      return {
        // The chaos publisher copies the events poison twice too: three deliveries, three dead letters.
        expectedDeadLetters: { 'mail.events.dlq': 3, 'mail.requests.transactional.dlq': 1 },
        settle: async () => {
          // Every event the mailer produced (+ the poison), each delivered twice more.
          const produced = await countRows(stack.mailerDatabaseUrl, `SELECT 'all' AS key, count(*) AS n FROM outbox WHERE topic LIKE '%mail.events'`);
          const distinct = (produced.get('all') ?? 0) + 1;
          expect(distinct).toBeGreaterThanOrEqual(LOAD * 2 + 1); // at least accepted + sent per email
          await stopChaos(distinct);
          // What the product did with the copies: the business consumer group read every
          // partition of mail.events to its end (every copy consumed, none skipped: lag 0)...
          let lag = '';
          const ends = await waitFor(
            async () => {
              const [end, committed] = await Promise.all([kafka.offsets('mail.events'), kafka.committedOffsets('business.email-events', 'mail.events')]);
              const behind = [...end].filter(([p, o]) => (committed.get(p) ?? -1) !== o.high);
              lag = JSON.stringify(behind.map(([p, o]) => ({ partition: p, end: o.high, committed: committed.get(p) ?? -1 })));
              return behind.length === 0 ? end : undefined;
            },
            { timeoutMs: 60_000, intervalMs: 500, description: 'business.email-events to commit the end of every mail.events partition' },
          ).catch(() => expect.fail(`business.email-events did not consume mail.events to the end: ${lag}`));
          // ...and the topic really held the copies (originals + two copies each). That each was
          // applied once is the per-email history check every scenario runs after settling.
          const total = [...ends.values()].reduce((n, o) => n + o.high, 0);
          console.log(`[faults] mail.events: ${total} messages for ${distinct} distinct; business.email-events at the end of all ${ends.size} partitions`);
          expect(total, 'messages in mail.events (end offsets summed)').toBeGreaterThanOrEqual(distinct * 3);
        },
      };
    },
  },
  {
    name: 'sigterm-both',
    async fault({ stack, accepted }) {
      await accepted(LOAD / 3);
      const codes = await Promise.all([stack.business!.stop('SIGTERM'), stack.mailer!.stop('SIGTERM')]);
      expect(codes).toEqual([0, 0]);
      await Promise.all([stack.business!.start(), stack.mailer!.start()]);
      return {};
    },
  },
  {
    name: 'broker-down-at-start',
    // Both apps start while their broker is down: they must come up (liveness), take requests
    // into their outboxes, say they are not ready, and catch up once the broker is there.
    kafkaDownAtStart: true,
    async fault({ stack, kafkaBroker, accepted, acceptedCount }) {
      const upAt = Date.now(); // both apps answer /health, the broker has never run
      await accepted(LOAD / 4, 20_000);
      for (const app of [stack.business!, stack.mailer!]) {
        const seen = await waitFor(
          async () => {
            const res = await readiness(app.baseUrl);
            return res.status === 503 && KAFKA_DOWN.test(JSON.stringify(res.body)) ? res : undefined;
          },
          { timeoutMs: 5_000, intervalMs: 250, description: `${app.label} to report kafka down` },
        ).catch(() => readiness(app.baseUrl));
        expect(seen.status, `${app.label} GET /health/ready while the broker is down`).toBe(503);
        expect(JSON.stringify(seen.body), `${app.label} GET /health/ready body`).toMatch(KAFKA_DOWN);
      }
      await sleep(Math.max(0, upAt + 10_000 - Date.now()));
      expect(acceptedCount(), 'requests accepted (202) before the broker started').toBeGreaterThanOrEqual(LOAD / 4);
      await kafkaBroker!.start();
      return {
        settle: async () => {
          for (const app of [stack.business!, stack.mailer!]) {
            let last: unknown;
            await waitFor(
              async () => {
                const res = await readiness(app.baseUrl);
                last = res;
                return res.status === 200 || undefined;
              },
              { timeoutMs: 30_000, intervalMs: 500, description: `${app.label} to be ready` },
            ).catch(() => expect.fail(`${app.label} GET /health/ready once everything was sent: ${JSON.stringify(last)}`));
          }
        },
      };
    },
  },
  {
    name: 'redis-unreachable',
    // Redis stops answering the mailer (connections reset, port closed) for 20 s; its data stays.
    stack: { redisGate: true, mailerEnv: { SWEEP_INTERVAL_MS: '2000' } },
    loadSpreadMs: 40_000, // requests keep arriving before, during and after the outage
    async fault({ stack, accepted, delivered }) {
      await accepted(LOAD / 4);
      await delivered(20);
      await stack.redisGate!.cut();
      await sleep(20_000);
      await stack.redisGate!.open();
      return {};
    },
  },
  {
    name: 'slow-smtp-redis-wiped',
    // The queue is lost (twice) while emails sit in a slow SMTP hand-off: the sweeper rebuilds
    // their jobs from PostgreSQL, and a new job must not resend an email still being handed over.
    stack: { mailerEnv: { SWEEP_INTERVAL_MS: '1000' } },
    async fault({ stack, accepted, delivered }) {
      await accepted(LOAD / 4);
      await delivered(20);
      stack.smtp.delayAcceptance(4_000);
      await delivered(stack.smtp.mails.length + 1); // a message is in the window now (stored, 250 pending)
      await wipeQueueKeys(stack);
      await sleep(5_000);
      await wipeQueueKeys(stack);
      await sleep(5_000);
      stack.smtp.delayAcceptance(0);
      return {};
    },
  },
  {
    name: 'postgres-down-second-mailer-joins',
    // Mailer #1 loses its database for longer than the consumer session timeout (10 s); a second
    // mailer (database reachable) joins meanwhile and must get partitions and work them.
    stack: { mailerDatabaseGate: true },
    loadSpreadMs: 40_000, // requests keep arriving during the cut, on every partition
    async fault({ stack, kafka, accepted, delivered }) {
      const CUT_MS = 25_000;
      const group = 'mailer.requests.transactional';
      await accepted(LOAD / 4);
      await delivered(20);
      const cutAt = Date.now();
      await stack.mailerDatabaseGate!.cut();
      await sleep(2_000);
      // Mailer #1 cannot write any more: rows added from now on are mailer #2's work.
      const rowsBefore = await countAll(stack.mailerDatabaseUrl, 'mail_requests');
      const second = stack.addMailer();
      second.catch(() => undefined); // awaited below; no unhandled rejection if we stop waiting first
      const healthyInTime = await Promise.race([second.then(() => true), sleep(Math.max(0, cutAt + CUT_MS - Date.now())).then(() => false)]);
      if (!healthyInTime) {
        const described = await kafka.describeGroup(group).catch((e: unknown) => String(e));
        const rows = await countAll(stack.mailerDatabaseUrl, 'mail_requests');
        await stack.mailerDatabaseGate!.open();
        const late = await second.then(
          () => `it answered /health ${((Date.now() - cutAt) / 1000).toFixed(1)} s after the cut, once the gate was open again`,
          (e: unknown) => `it never answered /health (${String(e)})`,
        );
        expect.fail(`mailer #2 was not healthy while mailer #1's database was cut (${CUT_MS / 1000} s); ${late}; at the end of the cut: mail_requests rows ${rowsBefore} → ${rows}, group ${group} ${JSON.stringify(described)}`);
      }
      const healthyAfter = Date.now() - cutAt;
      // Within 15 s (the gate stays cut until this is decided): mailer #2 stores requests from
      // the partitions it got, and/or the group is stable with both members holding partitions.
      let last: { rows: number; state: string; members: GroupMember[] } = { rows: rowsBefore, state: '?', members: [] };
      const moved = await waitFor(
        async () => {
          const [rows, described] = await Promise.all([countAll(stack.mailerDatabaseUrl, 'mail_requests'), kafka.describeGroup(group)]);
          last = { rows, ...described };
          const split = described.state === 'Stable' && described.members.length === 2 && described.members.every((m) => m.partitions > 0);
          return rows > rowsBefore || split ? last : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 500, description: 'the partitions to move to mailer #2' },
      ).catch(() => undefined);
      const seenAfter = Date.now() - cutAt;
      await sleep(Math.max(0, cutAt + CUT_MS - Date.now()));
      await stack.mailerDatabaseGate!.open();
      console.log(
        `[faults] postgres-down-second-mailer-joins: mailer #2 healthy ${(healthyAfter / 1000).toFixed(1)} s into the cut; ` +
          `after ${(seenAfter / 1000).toFixed(1)} s: mail_requests ${rowsBefore} → ${last.rows}, group ${last.state} ${JSON.stringify(last.members)}`,
      );
      expect(
        moved,
        `within 15 s of mailer #2 being healthy (mailer #1's database still cut): mail_requests rows ${rowsBefore} → ${last.rows}, ` +
          `group ${group} ${last.state} with members ${JSON.stringify(last.members)}`,
      ).toBeDefined();
      return {};
    },
  },
  {
    name: 'deterministic-handler-failure',
    // A request that passes the message schema but that the mailer's database refuses on every
    // attempt (jsonb cannot hold U+0000: SQLSTATE 22P05). It must be dead-lettered after a few
    // attempts and its partition must move on to the load emails behind it.
    loadSpreadMs: 20_000, // the load keeps flowing after the poison, on its partition too
    async fault({ kafka, accepted }) {
      const topic = 'mail.requests.transactional';
      await accepted(LOAD / 8);
      const emailId = randomUUID();
      const poison = {
        version: CONTRACT_VERSION,
        type: 'email.requested',
        emailId,
        requestedAt: new Date().toISOString(),
        lane: 'transactional',
        to: ['poison@example.test'],
        subject: 'deterministic-handler-failure',
        text: 'a NUL character: \u0000 (PostgreSQL jsonb refuses it)',
      };
      expect(emailRequestedMessageSchema.safeParse(poison).success, 'the poison passes the request schema').toBe(true);
      const stored = await kafka.publishRaw(topic, emailId, JSON.stringify(poison));
      // The scenario proves something only if load emails follow the poison on its partition.
      await accepted(LOAD);
      let end = 0;
      await waitFor(
        async () => {
          end = (await kafka.offsets(topic)).get(stored.partition)?.high ?? 0;
          return end > stored.offset + 1 || undefined;
        },
        { timeoutMs: 30_000, intervalMs: 500, description: `load requests behind the poison on partition ${stored.partition}` },
      );
      console.log(
        `[faults] deterministic-handler-failure: poison at ${topic}[${stored.partition}]@${stored.offset}; ` +
          `${end - stored.offset - 1} messages behind it on that partition (end offset ${end})`,
      );
      return { expectedDeadLetters: { 'mail.requests.transactional.dlq': 1 } };
    },
  },
  {
    name: 'cluster-kill-requests-leader',
    // Three brokers, topics with 3 replicas and min.insync.replicas 2. The broker leading most
    // partitions of the request topic dies (SIGKILL) mid-stream, while the relay publishes to it
    // (acks=all, idempotent) and the mailer consumes from it; it rejoins 10 s later. No app dies.
    privateCluster: 3,
    loadSpreadMs: 30_000,
    async fault({ cluster, kafka, accepted }) {
      await accepted(LOAD / 4);
      const killed = await killLeaderOf(cluster!, kafka, 'mail.requests.transactional');
      await sleep(10_000);
      await cluster!.start([killed]);
      return {};
    },
  },
  {
    name: 'cluster-kill-events-leader',
    // As above for mail.events: the mailer's relay publishes status events to it and business
    // consumes them; the broker leading most of its partitions dies once mail is flowing.
    privateCluster: 3,
    loadSpreadMs: 30_000,
    async fault({ cluster, kafka, accepted, delivered }) {
      await accepted(LOAD / 4);
      await delivered(LOAD / 8);
      const killed = await killLeaderOf(cluster!, kafka, 'mail.events');
      await sleep(10_000);
      await cluster!.start([killed]);
      return {};
    },
  },
  {
    name: 'cluster-one-broker-down',
    // One of three brokers is down for the whole run (killed once the topics exist, before the
    // first request): every write still has its 2 in-sync replicas, and nothing waits for it.
    privateCluster: 3,
    async beforeLoad({ cluster, kafka }) {
      await killLeaderOf(cluster!, kafka, 'mail.requests.transactional');
    },
    async fault() {
      return {};
    },
  },
];

const only = process.env.FAULT_SCENARIOS?.split(',');
/**
 * The 3-broker scenarios start three JVMs each (about 3 minutes apiece on 2 cores): they run in
 * `npm run test:faults` (which sets FAULT_CLUSTER=1) and are skipped by the default `npm test`,
 * whose budget they would break. FAULT_SCENARIOS naming one runs it either way.
 */
const clusterScenarios = process.env.FAULT_CLUSTER === '1';

describe('fault suite: nothing lost, nothing sent twice', () => {
  let cleanups: (() => Promise<void>)[] = [];

  afterEach(async () => {
    for (const fn of cleanups.reverse()) await fn().catch((e) => console.warn(`[faults] cleanup: ${e}`));
    cleanups = [];
  });

  afterAll(() => {
    mkdirSync('test-output', { recursive: true });
    writeFileSync('test-output/fault-results.json', JSON.stringify(results, null, 2));
  });

  for (const scenario of scenarios) {
    // Three JVMs start (and restart) on a small machine before the load even begins.
    const timeout = scenario.privateCluster ? 900_000 : undefined;
    const skipped = only !== undefined ? !only.includes(scenario.name) : scenario.privateCluster !== undefined && !clusterScenarios;
    it.skipIf(skipped)(scenario.name, { timeout }, async () => {
      await runScenario(scenario, (fn) => cleanups.push(fn));
    });
  }
});
