import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Queue } from 'bullmq';
import type { DataSource } from 'typeorm';
import { Clock, IdGenerator } from '@app/common';
import { CONTRACT_VERSION, type EmailCancelRequestedMessage, type EmailRequestedMessage, type Lane } from '@app/contracts';
import { KafkaTopics } from '@app/kafka';
import { OutboxWriter } from '@app/outbox';
import { bullConnection } from '@app/queue';
import pg from 'pg';
import { TestNameServer, createMigratedDatabase, dropMigratedDatabase, waitFor } from '@app/testing';
import { loadMailerConfig, type MailerConfig } from '../config.js';
import { MAILER_MIGRATIONS } from '../database/migrations.js';
import { SenderAllowedCheck } from '../checks/sender-allowed.check.js';
import { MailEvents } from '../events/mail-events.js';
import { SendJobSweeper } from '../sending/send-job-sweeper.js';
import { SendQueue, sendQueueName } from '../sending/send-queue.js';
import { MailRequestsRepository } from './mail-requests.repository.js';
import { MailRequestsService } from './mail-requests.service.js';
import { MailCancelsService } from './mail-cancels.service.js';
import type { MailCheck } from '../checks/mail-check.js';
import { RecipientDomainCheck } from '../checks/recipient-domain.check.js';
import { MailCheckChain } from '../checks/mail-check-chain.service.js';
import { ExpiryCheck } from '../checks/expiry.check.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** Nothing listens on port 1: Redis is unreachable, and BullMQ waits for it until the queue's deadline. */
const UNREACHABLE_REDIS_URL = 'redis://127.0.0.1:1';

/**
 * Accepting a batch of requests on real PostgreSQL and Redis: one row and one accepted (or
 * expired) event per new email, exactly one send job per open email, all or nothing in the
 * database, and a Redis outage that never fails the handler.
 */
describe('MailRequestsService.acceptBatch (PostgreSQL, Redis)', () => {
  let url: string;
  let dataSource: DataSource;
  const repository = new MailRequestsRepository();
  const queuePrefix = `mail-accept-int-${randomUUID().slice(0, 8)}`;
  const started: SendQueue[] = [];

  const config = (env: Record<string, string> = {}): MailerConfig =>
    loadMailerConfig({
      MAILER_DATABASE_URL: url,
      KAFKA_BROKERS: '127.0.0.1:9092',
      REDIS_URL,
      SMTP_URL: 'smtp://127.0.0.1:2525',
      QUEUE_PREFIX: queuePrefix,
      ...env,
    });

  /** The service with real adapters; `outbox` and `env` let a test break one of them. */
  function build(options: { outbox?: OutboxWriter; env?: Record<string, string>; checks?: (config: MailerConfig) => MailCheck<unknown>[] } = {}): {
    service: MailRequestsService;
    sweeper: SendJobSweeper;
    queue: SendQueue;
  } {
    const mailerConfig = config(options.env);
    const queue = new SendQueue(mailerConfig);
    queue.onModuleInit();
    started.push(queue);
    // Built, not bootstrapped: it sweeps only when the test says so.
    const sweeper = new SendJobSweeper(dataSource, repository, queue, mailerConfig);
    vi.spyOn(sweeper, 'sweepSoon').mockImplementation(() => undefined);
    const events = new MailEvents(options.outbox ?? new OutboxWriter(), new KafkaTopics({ brokers: [], clientId: 'test' }), new IdGenerator(), new Clock());
    const chain = new MailCheckChain(options.checks?.(mailerConfig) ?? [new ExpiryCheck(), new SenderAllowedCheck(mailerConfig)]);
    const cancels = new MailCancelsService(dataSource, repository, events, queue);
    return { service: new MailRequestsService(dataSource, repository, events, queue, sweeper, new Clock(), chain, cancels), sweeper, queue };
  }

  const request = (overrides: Partial<EmailRequestedMessage> = {}): EmailRequestedMessage => ({
    version: CONTRACT_VERSION,
    type: 'email.requested',
    emailId: randomUUID(),
    requestedAt: new Date().toISOString(),
    lane: 'transactional',
    to: ['ada@example.com'],
    subject: 'hello',
    text: 'x',
    ...overrides,
  });

  const inspected: Record<Lane, Queue> = {} as Record<Lane, Queue>;
  const jobIds = async (lane: Lane): Promise<string[]> => {
    const jobs = await inspected[lane].getJobs(['waiting', 'delayed', 'active', 'prioritized']);
    return jobs.map((job) => job.id!).sort();
  };
  const byEmailId = (a: { emailId: string }, b: { emailId: string }): number => (a.emailId < b.emailId ? -1 : a.emailId > b.emailId ? 1 : 0);
  const rowsOf = async (ids: string[]): Promise<{ emailId: string; status: string; subject: string }[]> =>
    ((await dataSource.query(`SELECT email_id AS "emailId", status, payload->>'subject' AS subject FROM mail_requests WHERE email_id = ANY($1)`, [ids])) as {
      emailId: string;
      status: string;
      subject: string;
    }[]).sort(byEmailId);
  const eventsOf = async (ids: string[]): Promise<{ emailId: string; type: string }[]> =>
    ((await dataSource.query(`SELECT message_key AS "emailId", payload->>'type' AS type FROM outbox WHERE message_key = ANY($1)`, [ids])) as {
      emailId: string;
      type: string;
    }[]).sort(byEmailId);

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('mail_accept_int', MAILER_MIGRATIONS));
    for (const lane of ['transactional', 'bulk'] as const) {
      inspected[lane] = new Queue(sendQueueName(lane), { connection: bullConnection(REDIS_URL), prefix: queuePrefix });
    }
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    await Promise.all(started.splice(0).map((queue) => queue.onApplicationShutdown()));
    await Promise.all(Object.values(inspected).map((queue) => queue.obliterate({ force: true })));
    await dataSource.query('TRUNCATE mail_attempts, mail_requests, outbox');
  });

  afterAll(async () => {
    await Promise.all(Object.values(inspected).map((queue) => queue.close()));
    await dropMigratedDatabase(dataSource, url);
  });

  it('records each new email once with its event, counts the rest as duplicates, and makes one job per open email', async () => {
    const { service, sweeper } = build();
    const knownOpen = request();
    const knownSent = request();
    await repository.insert(dataSource.manager, knownOpen, 'pending'); // recorded before a crash, its job never made
    await repository.insert(dataSource.manager, knownSent, 'sent');
    const fresh = request({ subject: 'first copy' });
    const expired = request({ expiresAt: new Date(Date.now() - 1_000).toISOString() });
    const bulk = request({ lane: 'bulk' });
    const all = [fresh, knownOpen, knownSent, expired, bulk].map((r) => r.emailId);
    const transaction = vi.spyOn(dataSource, 'transaction');
    const addBulk = vi.spyOn(Queue.prototype, 'addBulk');
    const add = vi.spyOn(Queue.prototype, 'add');

    const batch = [fresh, knownOpen, { ...fresh, subject: 'redelivered copy' }, expired, knownSent, bulk];
    expect(await service.acceptBatch(batch)).toEqual(['processed', 'duplicate', 'duplicate', 'processed', 'duplicate', 'processed']);

    expect(transaction).toHaveBeenCalledTimes(1);
    expect(add).not.toHaveBeenCalled();
    expect(addBulk).toHaveBeenCalledTimes(2); // one per lane
    expect(await rowsOf(all)).toEqual(
      [
        { emailId: fresh.emailId, status: 'pending', subject: 'first copy' },
        { emailId: knownOpen.emailId, status: 'pending', subject: 'hello' },
        { emailId: knownSent.emailId, status: 'sent', subject: 'hello' },
        { emailId: expired.emailId, status: 'expired', subject: 'hello' },
        { emailId: bulk.emailId, status: 'pending', subject: 'hello' },
      ].sort(byEmailId),
    );
    expect(await eventsOf(all)).toEqual(
      [
        { emailId: fresh.emailId, type: 'email.accepted' },
        { emailId: expired.emailId, type: 'email.expired' },
        { emailId: bulk.emailId, type: 'email.accepted' },
      ].sort(byEmailId),
    );
    expect(await jobIds('transactional')).toEqual([fresh.emailId, knownOpen.emailId].sort());
    expect(await jobIds('bulk')).toEqual([bulk.emailId]);
    expect(sweeper.sweepSoon).not.toHaveBeenCalled();

    // The whole batch again (a redelivery): nothing new, and still one job per open email.
    expect(await service.acceptBatch(batch)).toEqual(batch.map(() => 'duplicate'));
    expect(await eventsOf(all)).toHaveLength(3);
    expect(await jobIds('transactional')).toEqual([fresh.emailId, knownOpen.emailId].sort());
    expect(await jobIds('bulk')).toEqual([bulk.emailId]);
  });

  it('records a request from a sender it may not use as rejected (sender_not_allowed), with no send job', async () => {
    const { service } = build({ env: { MAIL_FROM: 'Shop <no-reply@shop.example>', MAIL_SENDER_DOMAINS: 'news.shop.example' } });
    const allowed = request({ from: { name: 'Shop', address: 'deals@news.shop.example' } });
    const refused = request({ from: { address: 'ceo@attacker.example' } });
    const transaction = vi.spyOn(dataSource, 'transaction');

    expect(await service.acceptBatch([allowed, refused])).toEqual(['processed', 'processed']);

    expect(transaction).toHaveBeenCalledTimes(1);
    expect((await rowsOf([refused.emailId])).map((row) => row.status)).toEqual(['rejected']);
    const [event] = await dataSource.query(`SELECT payload->>'type' AS type, payload->'detail' AS detail FROM outbox WHERE message_key = $1`, [refused.emailId]);
    expect(event).toEqual({ type: 'email.rejected', detail: { code: 'sender_not_allowed', reason: expect.stringContaining('ceo@attacker.example') } });
    expect(await eventsOf([allowed.emailId])).toEqual([{ emailId: allowed.emailId, type: 'email.accepted' }]);
    expect(await jobIds('transactional')).toEqual([allowed.emailId]);
  });

  it('looks recipient domains up before the transaction: no session of the batch is open in a transaction during a slow lookup', async () => {
    const names = new TestNameServer({
      'slow.example.test': { MX: [{ preference: 10, exchange: 'mail.slow.example.test' }] },
      'mx.example.test': { MX: [{ preference: 10, exchange: 'mail.mx.example.test' }] },
    });
    names.delayMs.set('slow.example.test', 1_500);
    const dnsServer = await names.start();
    const observer = new pg.Client({ connectionString: url });
    await observer.connect();
    try {
      const { service } = build({
        env: { MAIL_CHECK_RECIPIENT_DOMAINS: 'true', DNS_SERVERS: dnsServer, DNS_TIMEOUT_MS: '5000' },
        checks: (c) => [new RecipientDomainCheck(c)],
      });
      const slow = request({ to: ['ada@slow.example.test'] });
      const nowhere = request({ to: ['bob@nowhere.example.test'] });
      const accepting = service.acceptBatch([slow, nowhere]);
      await waitFor(() => names.queries.includes('MX slow.example.test') || undefined, { timeoutMs: 5_000, description: 'the slow lookup to start' });
      await new Promise((resolve) => setTimeout(resolve, 300));
      // The lookup is still waiting for its answer (1.5 s): nothing of this database may be inside a transaction meanwhile.
      const { rows } = await observer.query(
        `SELECT state FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL`,
      );
      expect(rows).toEqual([]);
      expect(await accepting).toEqual(['processed', 'processed']);
      // The verdicts are the check's, as before.
      expect((await rowsOf([slow.emailId, nowhere.emailId])).map((r) => [r.emailId, r.status])).toEqual(
        [
          [slow.emailId, 'pending'],
          [nowhere.emailId, 'rejected'],
        ].sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
      );
    } finally {
      await observer.end();
      names.stop();
    }
  });

  it('applies a cancel in the same run as its request before any send job is made: it ends canceled, and no job is made for it', async () => {
    const { service, queue } = build();
    const kept = request();
    const canceled = request();
    const cancel: EmailCancelRequestedMessage = { version: CONTRACT_VERSION, type: 'email.cancel_requested', emailId: canceled.emailId, lane: 'transactional', requestedAt: new Date().toISOString() };
    // A worker as fast as can be: it starts every job's attempt the moment it is enqueued.
    const enqueue = queue.enqueueMany.bind(queue);
    vi.spyOn(queue, 'enqueueMany').mockImplementation(async (jobs) => {
      await enqueue(jobs);
      for (const job of jobs) await repository.startNextAttempt(dataSource.manager, job.emailId, { leaseMs: 15_000, now: new Date(), holdLanes: [] });
    });

    expect(await service.acceptRun([kept, canceled], [cancel])).toEqual({ requests: ['processed', 'processed'], cancels: ['processed'] });
    expect(await rowsOf([kept.emailId, canceled.emailId])).toEqual(
      [
        { emailId: kept.emailId, status: 'sending', subject: 'hello' },
        { emailId: canceled.emailId, status: 'canceled', subject: 'hello' },
      ].sort(byEmailId),
    );
    expect(await jobIds('transactional')).toEqual([kept.emailId]);
    const events = (await eventsOf([canceled.emailId])).map((e) => e.type);
    expect(events).toEqual(['email.accepted', 'email.canceled']);
  });

  it('keeps accept() for one request: processed, then duplicate, one job', async () => {
    const { service } = build();
    const one = request();
    expect(await service.accept(one)).toBe('processed');
    expect(await service.accept(one)).toBe('duplicate');
    expect(await eventsOf([one.emailId])).toEqual([{ emailId: one.emailId, type: 'email.accepted' }]);
    expect(await jobIds('transactional')).toEqual([one.emailId]);
  });

  it('writes nothing when part of the transaction fails, and fails the handler so Kafka redelivers', async () => {
    // An outbox in a schema that does not exist: the events' insert fails after the requests' insert.
    const { service } = build({ outbox: new OutboxWriter({ schema: 'no_such_schema' }) });
    const batch = [request(), request({ lane: 'bulk' })];

    await expect(service.acceptBatch(batch)).rejects.toThrow(/no_such_schema/);

    expect(await rowsOf(batch.map((r) => r.emailId))).toEqual([]);
    expect(await jobIds('transactional')).toEqual([]);
    expect(await jobIds('bulk')).toEqual([]);
  });

  it('commits the batch and asks the sweeper for the jobs when Redis is unreachable, without failing the handler', async () => {
    const { service, sweeper } = build({ env: { REDIS_URL: UNREACHABLE_REDIS_URL } });
    const batch = [request(), request({ lane: 'bulk' })];

    expect(await service.acceptBatch(batch)).toEqual(['processed', 'processed']);
    expect((await rowsOf(batch.map((r) => r.emailId))).map((row) => row.status)).toEqual(['pending', 'pending']);
    expect(sweeper.sweepSoon).toHaveBeenCalledTimes(1);

    // Within the back-off the next batch does not wait for Redis again.
    const startedAt = Date.now();
    expect(await service.acceptBatch([request()])).toEqual(['processed']);
    expect(Date.now() - startedAt).toBeLessThan(1_000);
    expect(sweeper.sweepSoon).toHaveBeenCalledTimes(2);
  });
});
