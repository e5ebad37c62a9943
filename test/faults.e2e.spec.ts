import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import { Redis } from 'ioredis';
import { sleep } from '@app/common';
import { waitFor } from '@app/testing';
import { EmailLoopStack, REDIS_URL, type StackOptions } from './stack.js';
import { PrivateKafka } from './infra/private-kafka.js';
import { PrivatePostgres } from './infra/private-postgres.js';
import { StatusMonitor } from './faults/status-monitor.js';
import { KafkaTools } from './faults/kafka-tools.js';

/**
 * The fault suite: for each scenario a fresh stack, a load of LOAD emails with distinct
 * recipients, one fault injected mid-stream, then a count of what the SMTP server received and
 * what the API reports. `FAULT_EMAIL_COUNT` scales the load (README: the full run).
 */
const LOAD = Number(process.env.FAULT_EMAIL_COUNT ?? 1000);
const SEND_CONCURRENCY = 20; // the mailer's default SEND_CONCURRENCY_TRANSACTIONAL

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
  postgres?: PrivatePostgres;
  /** Resolves once `n` requests were accepted by the business API. */
  accepted(n: number): Promise<void>;
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
  privatePostgres?: boolean;
  /** Recipients the SMTP server refuses with 550 for the whole run. */
  refuse550?: (index: number) => boolean;
  fault(ctx: FaultContext): Promise<FaultOutcome>;
}

const results: ScenarioResult[] = [];

/** A client that retries until the business app answers, as a real client would during a restart. */
async function postUntilAccepted(stack: EmailLoopStack, body: unknown, idempotencyKey: string): Promise<string> {
  return waitFor(
    async () => {
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

async function outboxBacklog(databaseUrl: string): Promise<{ pending: number; dead: number }> {
  const counts = await countRows(
    databaseUrl,
    `SELECT CASE WHEN dead_lettered_at IS NULL THEN 'pending' ELSE 'dead' END AS key, count(*) AS n
     FROM outbox WHERE published_at IS NULL GROUP BY 1`,
  );
  return { pending: counts.get('pending') ?? 0, dead: counts.get('dead') ?? 0 };
}

async function runScenario(scenario: Scenario, cleanup: (fn: () => Promise<void>) => void): Promise<ScenarioResult> {
  const started = Date.now();
  const stack = new EmailLoopStack();
  const options: StackOptions = { ...scenario.stack };
  const ctx: Pick<FaultContext, 'kafkaBroker' | 'postgres'> = {};
  if (scenario.privateKafka) {
    const broker = new PrivateKafka();
    cleanup(() => broker.destroy());
    await broker.start();
    ctx.kafkaBroker = broker;
    options.kafkaBrokers = broker.brokers;
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

  const recipients = Array.from({ length: LOAD }, (_, i) => `${scenario.name}-${i}@example.test`);
  const refused = new Set(recipients.filter((_, i) => scenario.refuse550?.(i)));
  stack.smtp.refuseRecipients((address) => (refused.has(address) ? { code: 550, message: 'No such user here' } : null));

  const monitor = new StatusMonitor(stack.businessDatabaseUrl);
  monitor.start();
  const ids: string[] = [];
  const load = (async () => {
    for (let i = 0; i < recipients.length; i += 25) {
      const batch = recipients.slice(i, i + 25);
      const accepted = await Promise.all(
        batch.map((to) => postUntilAccepted(stack, { to, subject: scenario.name, text: 'x' }, `${scenario.name}-${to}`)),
      );
      ids.push(...accepted);
    }
  })();
  const outcome = await scenario.fault({
    ...ctx,
    stack,
    kafka,
    accepted: async (n: number) => {
      await waitFor(() => ids.length >= n || undefined, { timeoutMs: 120_000, description: `${n} accepted requests` });
    },
    delivered: async (n: number) => {
      await waitFor(() => stack.smtp.mails.length >= n || undefined, { timeoutMs: 120_000, description: `${n} delivered mails` });
    },
  });
  await load;

  const waitForFinals = (settled: string[]) =>
    waitFor(
      async () => {
        const views = await Promise.all(ids.map((id) => stack.get(`/v1/emails/${id}`)));
        return views.every((v) => settled.includes(v.body?.status)) ? views.map((v) => v.body) : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 1_000, description: `every ${scenario.name} email to reach ${settled.join('/')}` },
    );
  const settledOrHeld = await waitForFinals(['sent', 'failed', 'unknown']);
  const heldUnknown = settledOrHeld.filter((v) => v.status === 'unknown').length;
  await outcome.reconcile?.();
  const finals = await waitForFinals(['sent', 'failed']);
  await outcome.settle?.();

  // Every status event the mailer produced is applied exactly once: per email, the business
  // history holds exactly the events the mailer's outbox holds (published or not).
  const eventQuery = `SELECT email_id::text AS key, count(*) AS n FROM email_events GROUP BY 1`;
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
  expect(Math.max(...recipients.map((r) => counts.get(r) ?? 0))).toBeLessThanOrEqual(1 + windowInterruptions);
  expect(result.duplicated).toBeLessThanOrEqual(windowInterruptions * SEND_CONCURRENCY * (scenario.stack?.mailerInstances ?? 1));
  expect(monitor.violations, 'statuses that moved backwards').toEqual([]);
  expect(monitor.ticks).toBeGreaterThan(3);
  for (const id of ids) expect(applied.get(id) ?? 0, `events applied for ${id}`).toBe(produced.get(id) ?? -1);
  expect(result.deadLettered).toEqual(outcome.expectedDeadLetters ?? {});
  // Rows a killed relay published but could not mark go out again once its lease expires.
  for (const databaseUrl of [stack.businessDatabaseUrl, stack.mailerDatabaseUrl]) {
    const drained = async () => {
      const backlog = await outboxBacklog(databaseUrl);
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
              const res = await fetch(`${stack.mailerUrl}/v1/unconfirmed`);
              const body = (await res.json()) as { emails: { emailId: string }[] };
              return body.emails.length >= 5 ? body.emails : undefined;
            },
            { timeoutMs: 60_000, description: 'the emails in the window to be held as unknown' },
          );
          for (const { emailId } of unconfirmed) {
            // What an operator does with the provider's logs: look the Message-ID up.
            const delivered = stack.smtp.mails.some((m) => m.emailId === emailId);
            const res = await fetch(`${stack.mailerUrl}/v1/unconfirmed/${emailId}/reconcile`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
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
    async fault({ postgres, accepted, delivered }) {
      await accepted(LOAD / 3);
      await delivered(20);
      await postgres!.stop('fast');
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
      const redis = new Redis(REDIS_URL);
      // Only this test's keys: other suites may share the Redis server.
      const keys = await redis.keys(`${stack.id}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
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
          expect(await stopChaos(distinct)).toBeGreaterThanOrEqual(distinct * 2);
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
];

const only = process.env.FAULT_SCENARIOS?.split(',');

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
    it.skipIf(only !== undefined && !only.includes(scenario.name))(scenario.name, async () => {
      await runScenario(scenario, (fn) => cleanups.push(fn));
    });
  }
});
