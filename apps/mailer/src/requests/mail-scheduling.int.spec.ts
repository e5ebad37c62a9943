import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { Clock, IdGenerator, sleep } from '@app/common';
import { CONTRACT_VERSION, type EmailCancelRequestedMessage, type EmailRequestedMessage } from '@app/contracts';
import { KafkaTopics } from '@app/kafka';
import { OutboxWriter } from '@app/outbox';
import { bullConnection } from '@app/queue';
import { SmtpCapture, createMigratedDatabase, dropMigratedDatabase, waitFor } from '@app/testing';
import { loadMailerConfig, type MailerConfig } from '../config.js';
import { MAILER_MIGRATIONS } from '../database/migrations.js';
import { MailEvents } from '../events/mail-events.js';
import { NotDueYetError } from '../sending/attempt.errors.js';
import { MailSender } from '../sending/mail-sender.service.js';
import { SendJobSweeper } from '../sending/send-job-sweeper.js';
import { SendQueue, sendQueueName } from '../sending/send-queue.js';
import { SmtpTransport } from '../sending/smtp.transport.js';
import { MailCancelsService } from './mail-cancels.service.js';
import { MailRequestsRepository } from './mail-requests.repository.js';
import { MailRequestsService } from './mail-requests.service.js';
import { MailCheckChain } from '../checks/mail-check-chain.service.js';
import { ExpiryCheck } from '../checks/expiry.check.js';
import { SuppressionsRepository } from '../suppressions/suppressions.repository.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Scheduled sending and cancel in the mailer, on real PostgreSQL, Redis and SMTP: a `sendAt`
 * ahead is recorded `scheduled` with a delayed job, the sweeper rebuilds that job with what
 * remains of the delay after Redis lost it, a job woken early sends nothing, and a cancel and a
 * send attempt racing for one email never both win.
 */
describe('scheduled sending and cancel in the mailer (PostgreSQL, Redis, SMTP)', () => {
  const repository = new MailRequestsRepository();
  const smtpServer = new SmtpCapture();
  const queuePrefix = `mail-schedule-int-${randomUUID().slice(0, 8)}`;
  let url: string;
  let dataSource: DataSource;
  let config: MailerConfig;
  let queue: SendQueue;
  let inspected: Queue;
  let smtp: SmtpTransport;
  let accepting: MailRequestsService;
  let cancels: MailCancelsService;
  let sweeper: SendJobSweeper;
  let sender: MailSender;

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('mail_schedule_int', MAILER_MIGRATIONS));
    const port = await smtpServer.start();
    config = loadMailerConfig({
      MAILER_DATABASE_URL: url,
      KAFKA_BROKERS: '127.0.0.1:9092',
      REDIS_URL,
      SMTP_URL: `smtp://127.0.0.1:${port}`,
      SMTP_TLS: 'none',
      QUEUE_PREFIX: queuePrefix,
    });
    queue = new SendQueue(config);
    queue.onModuleInit();
    inspected = new Queue(sendQueueName('transactional'), { connection: bullConnection(REDIS_URL), prefix: queuePrefix });
    const clock = new Clock();
    const events = new MailEvents(new OutboxWriter(), new KafkaTopics({ brokers: [], clientId: 'test', topicPrefix: '' }), new IdGenerator(), clock);
    sweeper = new SendJobSweeper(dataSource, repository, queue, config); // built, not bootstrapped: sweeps when told
    cancels = new MailCancelsService(dataSource, repository, events, queue);
    accepting = new MailRequestsService(dataSource, repository, events, queue, sweeper, clock, new MailCheckChain([new ExpiryCheck()]), cancels);
    smtp = new SmtpTransport(config);
    sender = new MailSender(dataSource, repository, events, smtp, clock, config, new SuppressionsRepository());
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    await inspected.obliterate({ force: true });
    await dataSource.query('TRUNCATE mail_attempts, mail_requests, outbox');
  });

  afterAll(async () => {
    await smtp?.onApplicationShutdown();
    await smtpServer.stop();
    await queue?.onApplicationShutdown();
    await inspected?.close();
    await dropMigratedDatabase(dataSource, url);
  });

  const request = (overrides: Partial<EmailRequestedMessage> = {}): EmailRequestedMessage => ({
    version: CONTRACT_VERSION,
    type: 'email.requested',
    emailId: randomUUID(),
    requestedAt: new Date().toISOString(),
    lane: 'transactional',
    to: [`${randomUUID()}@example.com`],
    subject: 'hello',
    text: 'x',
    ...overrides,
  });
  const cancel = (emailId: string): EmailCancelRequestedMessage => ({
    version: CONTRACT_VERSION,
    type: 'email.cancel_requested',
    emailId,
    lane: 'transactional',
    requestedAt: new Date().toISOString(),
  });
  const row = async (emailId: string): Promise<{ status: string; sendAt: Date | null; attempts: number }> =>
    (await dataSource.query(`SELECT status, send_at AS "sendAt", attempts FROM mail_requests WHERE email_id = $1`, [emailId]))[0];
  const events = (emailId: string): Promise<{ type: string; detail: Record<string, unknown> }[]> =>
    dataSource.query(`SELECT payload->>'type' AS type, payload->'detail' AS detail FROM outbox WHERE message_key = $1 ORDER BY id`, [emailId]);
  const mailsTo = (emailId: string) => smtpServer.mails.filter((m) => m.emailId === emailId);
  /** When BullMQ will run the job: its creation time plus its delay. */
  const dueAtOfJob = async (emailId: string): Promise<{ state: string; dueAt: number } | undefined> => {
    const job = await inspected.getJob(emailId);
    return job ? { state: await job.getState(), dueAt: job.timestamp + (job.delay ?? 0) } : undefined;
  };

  it('records a sendAt ahead as scheduled, with its time, an email.scheduled event and a job delayed until then', async () => {
    const sendAt = new Date(Date.now() + 60_000);
    const scheduled = request({ sendAt: sendAt.toISOString() });
    const pastDue = request({ sendAt: new Date(Date.now() - 5_000).toISOString() }); // clock skew: sent at once

    expect(await accepting.acceptBatch([scheduled, pastDue])).toEqual(['processed', 'processed']);

    expect(await row(scheduled.emailId)).toMatchObject({ status: 'scheduled', sendAt });
    expect(await events(scheduled.emailId)).toEqual([{ type: 'email.scheduled', detail: { sendAt: sendAt.toISOString() } }]);
    const job = await dueAtOfJob(scheduled.emailId);
    expect(job?.state).toBe('delayed');
    expect(Math.abs(job!.dueAt - sendAt.getTime())).toBeLessThan(100);

    expect(await row(pastDue.emailId)).toMatchObject({ status: 'pending' });
    expect(await events(pastDue.emailId)).toEqual([{ type: 'email.accepted', detail: {} }]);
    expect((await dueAtOfJob(pastDue.emailId))?.state).toBe('waiting');
  });

  it('rebuilds a scheduled email’s delayed job, due at its send_at, after Redis lost every key of the queue', async () => {
    const sendAt = new Date(Date.now() + 120_000);
    const scheduled = request({ sendAt: sendAt.toISOString() });
    await accepting.acceptBatch([scheduled]);
    expect((await dueAtOfJob(scheduled.emailId))?.state).toBe('delayed');

    // Redis loses the queue: every key under this test's prefix (never FLUSHALL a shared Redis).
    const redis = new Redis(REDIS_URL);
    try {
      const keys = await redis.keys(`${queuePrefix}:*`);
      expect(keys.length).toBeGreaterThan(0);
      await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
    expect(await dueAtOfJob(scheduled.emailId)).toBeUndefined();

    expect(await sweeper.sweep()).toBe(true);
    const rebuilt = await dueAtOfJob(scheduled.emailId);
    expect(rebuilt?.state).toBe('delayed');
    expect(Math.abs(rebuilt!.dueAt - sendAt.getTime())).toBeLessThan(100);
    expect(await row(scheduled.emailId)).toMatchObject({ status: 'scheduled' });
  });

  it('sends nothing for a job woken before the email’s time, then sends it once it is due', async () => {
    const scheduled = request({ sendAt: new Date(Date.now() + 1_500).toISOString() });
    await repository.insert(dataSource.manager, scheduled, 'scheduled');

    await expect(sender.send(scheduled.emailId)).rejects.toBeInstanceOf(NotDueYetError);
    expect(await row(scheduled.emailId)).toMatchObject({ status: 'scheduled', attempts: 0 });
    expect(mailsTo(scheduled.emailId)).toEqual([]);

    await waitFor(() => Date.now() >= Date.parse(scheduled.sendAt!), { timeoutMs: 5_000, intervalMs: 20 });
    expect(await sender.send(scheduled.emailId)).toBe('processed');
    expect(await row(scheduled.emailId)).toMatchObject({ status: 'sent', attempts: 1 });
    expect(mailsTo(scheduled.emailId)).toHaveLength(1);
  });

  it('expires an email that waited in retries past its expiresAt, without another attempt', async () => {
    const retried = request({ expiresAt: new Date(Date.now() + 200).toISOString() });
    await repository.insert(dataSource.manager, retried, 'retrying');
    await waitFor(() => Date.now() > Date.parse(retried.expiresAt!), { timeoutMs: 5_000, intervalMs: 20 });

    expect(await sender.send(retried.emailId)).toBe('skipped');
    expect(await row(retried.emailId)).toMatchObject({ status: 'expired', attempts: 0 });
    expect((await events(retried.emailId)).map((e) => e.type)).toEqual(['email.expired']);
    expect(mailsTo(retried.emailId)).toEqual([]);
  });

  it('cancels a scheduled email and removes its job; a repeated cancel changes nothing; a job that stays sends nothing', async () => {
    const scheduled = request({ sendAt: new Date(Date.now() + 60_000).toISOString() });
    const retrying = request();
    await accepting.acceptBatch([scheduled]);
    await repository.insert(dataSource.manager, retrying, 'retrying');

    expect(await cancels.cancelBatch([cancel(scheduled.emailId), cancel(retrying.emailId), cancel(scheduled.emailId)])).toEqual([
      'processed',
      'processed',
      'duplicate',
    ]);
    expect(await row(scheduled.emailId)).toMatchObject({ status: 'canceled' });
    expect(await row(retrying.emailId)).toMatchObject({ status: 'canceled' });
    expect((await events(scheduled.emailId)).map((e) => e.type)).toEqual(['email.scheduled', 'email.canceled']);
    expect(await events(retrying.emailId)).toEqual([{ type: 'email.canceled', detail: expect.objectContaining({ code: 'canceled' }) }]);
    expect(await dueAtOfJob(scheduled.emailId)).toBeUndefined();

    expect(await cancels.cancelBatch([cancel(scheduled.emailId)])).toEqual(['duplicate']);
    expect((await events(scheduled.emailId)).map((e) => e.type)).toEqual(['email.scheduled', 'email.canceled']);
    expect(await sender.send(retrying.emailId)).toBe('skipped');
    expect(mailsTo(retrying.emailId)).toEqual([]);
  });

  it('refuses to cancel an email whose SMTP hand-off has started: it goes on to sent, with no canceled event', async () => {
    const email = request();
    await repository.insert(dataSource.manager, email, 'pending');
    const release = smtpServer.hold((m) => m.emailId === email.emailId);
    try {
      const sending = sender.send(email.emailId);
      await waitFor(() => mailsTo(email.emailId).length === 1, { timeoutMs: 10_000, description: 'the message inside DATA' });
      expect(await cancels.cancelBatch([cancel(email.emailId)])).toEqual(['skipped']);
      release();
      expect(await sending).toBe('processed');
    } finally {
      release();
    }
    expect(await row(email.emailId)).toMatchObject({ status: 'sent' });
    expect((await events(email.emailId)).map((e) => e.type)).toEqual(['email.sent']);
    expect(await cancels.cancelBatch([cancel(email.emailId)])).toEqual(['skipped']);
  });

  it('lets a cancel that comes before its request win: the request is then a duplicate, never sent', async () => {
    const late = request({ lane: 'bulk' });
    expect(await cancels.cancelBatch([{ ...cancel(late.emailId), lane: 'bulk' }])).toEqual(['processed']);
    expect(await row(late.emailId)).toMatchObject({ status: 'canceled' });

    expect(await accepting.acceptBatch([late])).toEqual(['duplicate']);
    expect(await row(late.emailId)).toMatchObject({ status: 'canceled', attempts: 0 });
    expect((await events(late.emailId)).map((e) => e.type)).toEqual(['email.canceled']);
    expect(await sender.send(late.emailId)).toBe('skipped');
    expect(mailsTo(late.emailId)).toEqual([]);
    expect(await cancels.cancelBatch([{ ...cancel(late.emailId), lane: 'bulk' }])).toEqual(['duplicate']);
  });

  it('lets exactly one of a cancel and a concurrent send attempt win, for every email of a race', async () => {
    const emails = Array.from({ length: 30 }, () => request());
    for (const email of emails) await repository.insert(dataSource.manager, email, 'pending');

    // Each email's cancel and send attempt start together, every email at once; for half of them
    // the attempt, for the other half the cancel starts up to 4 ms later, so that both sides win
    // some races (left alone, the attempt, one statement, would beat the cancel's transaction).
    const later = <T>(ms: number, run: () => Promise<T>): Promise<T> => sleep(ms).then(run);
    const results = await Promise.all(
      emails.map(async ({ emailId }, i) => {
        const [sendDelay, cancelDelay] = i % 2 === 0 ? [i % 5, 0] : [0, i % 5];
        const [sent, canceled] = await Promise.all([
          later(sendDelay, () => sender.send(emailId)),
          later(cancelDelay, () => cancels.cancelBatch([cancel(emailId)])),
        ]);
        return { emailId, sent, canceled: canceled[0] };
      }),
    );

    for (const { emailId, sent, canceled } of results) {
      const { status } = await row(emailId);
      const types = (await events(emailId)).map((e) => e.type);
      if (canceled === 'processed') {
        expect({ status, sent, types, mails: mailsTo(emailId).length }).toEqual({ status: 'canceled', sent: 'skipped', types: ['email.canceled'], mails: 0 });
      } else {
        expect({ status, sent, canceled, types, mails: mailsTo(emailId).length }).toEqual({ status: 'sent', sent: 'processed', canceled: 'skipped', types: ['email.sent'], mails: 1 });
      }
    }
  });

  it('makes a send attempt that meets a cancel holding the row lock wait for it, then send nothing', async () => {
    const email = request({ sendAt: new Date(Date.now() - 1).toISOString() });
    await repository.insert(dataSource.manager, email, 'pending');
    const runner = dataSource.createQueryRunner();
    await runner.startTransaction();
    let sending: Promise<unknown> | undefined;
    try {
      expect(await repository.cancelMany(runner.manager, [email.emailId])).toHaveLength(1); // the cancel holds the row lock
      sending = sender.send(email.emailId);
      const settled = await Promise.race([sending.then(() => true), new Promise((r) => setTimeout(() => r(false), 300))]);
      expect(settled).toBe(false); // the attempt waits for the cancel's transaction
      await runner.commitTransaction();
    } finally {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      await runner.release();
    }
    expect(await sending).toBe('skipped');
    expect(await row(email.emailId)).toMatchObject({ status: 'canceled', attempts: 0 });
    expect(mailsTo(email.emailId)).toEqual([]);
  });
});
