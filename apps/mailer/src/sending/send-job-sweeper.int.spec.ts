import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { DataSource } from 'typeorm';
import { CONTRACT_VERSION, type EmailRequestedMessage } from '@app/contracts';
import { bullConnection } from '@app/queue';
import { createMigratedDatabase, dropMigratedDatabase } from '@app/testing';
import { loadMailerConfig } from '../config.js';
import { MAILER_MIGRATIONS } from '../database/migrations.js';
import { MailRequestsRepository } from '../requests/mail-requests.repository.js';
import { SendJobSweeper } from './send-job-sweeper.js';
import { SendQueue, sendQueueName } from './send-queue.js';

/** The sweeper rebuilding send jobs Redis lost, on real PostgreSQL and Redis (a unique queue prefix). */
describe('SendJobSweeper (PostgreSQL, Redis)', () => {
  const repository = new MailRequestsRepository();
  const prefix = `sweeper-int-${randomBytes(4).toString('hex')}`;
  let url: string;
  let dataSource: DataSource;
  let queue: SendQueue;
  let sweeper: SendJobSweeper;
  let inspect: Queue;

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('send_job_sweeper_int', MAILER_MIGRATIONS));
    const config = loadMailerConfig({
      MAILER_DATABASE_URL: url,
      KAFKA_BROKERS: '127.0.0.1:9092',
      REDIS_URL: 'redis://127.0.0.1:6379',
      SMTP_URL: 'smtp://127.0.0.1:2525',
      QUEUE_PREFIX: prefix,
    });
    queue = new SendQueue(config);
    queue.onModuleInit();
    sweeper = new SendJobSweeper(dataSource, repository, queue, config);
    inspect = new Queue(sendQueueName('transactional'), { connection: bullConnection(config.REDIS_URL), prefix });
  });

  afterAll(async () => {
    await inspect?.obliterate({ force: true }).catch(() => undefined);
    await inspect?.close();
    await queue?.onApplicationShutdown();
    await dropMigratedDatabase(dataSource, url);
  });

  async function newRequest(): Promise<string> {
    const request: EmailRequestedMessage = {
      version: CONTRACT_VERSION,
      type: 'email.requested',
      emailId: randomUUID(),
      requestedAt: new Date().toISOString(),
      lane: 'transactional',
      to: ['ada@example.com'],
      subject: 'hello',
      text: 'x',
    };
    await repository.insert(dataSource.manager, request, 'pending');
    return request.emailId;
  }

  it('rebuilds a retrying email’s lost job for the time its retrying event announced, and a pending one’s to run now', async () => {
    const retrying = await newRequest();
    const nextAttemptAt = new Date(Date.now() + 60_000);
    await dataSource.query(`UPDATE mail_requests SET status = 'retrying', attempts = 1, next_attempt_at = $2 WHERE email_id = $1`, [retrying, nextAttemptAt]);
    const pending = await newRequest();

    expect(await sweeper.sweep()).toBe(true);

    const rebuilt = await inspect.getJob(retrying);
    expect(await rebuilt?.getState()).toBe('delayed');
    expect(Math.abs(rebuilt!.timestamp + rebuilt!.delay - nextAttemptAt.getTime())).toBeLessThan(1_000);
    expect(await (await inspect.getJob(pending))?.getState()).toBe('waiting');
  });
});
