import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Queue, type JobsOptions } from 'bullmq';
import { LANES, type Lane } from '@app/contracts';
import { QueueDeadline, bullConnection, ensureJob, type EnsureJobOutcome } from '@app/queue';
import { MAILER_CONFIG, type MailerConfig } from '../config.js';
import { recipientDomains } from '../rate-limits/send-rate.js';

export interface SendJobData {
  emailId: string;
  /**
   * The recipients' domains, only while `RATE_LIMIT_DOMAINS` is set: the worker reserves their
   * budgets before the attempt without reading the request. A job rebuilt by the sweeper has none.
   */
  domains?: string[];
}

/** An email to make a send job for, on its lane's queue. */
export interface SendJobItem {
  emailId: string;
  lane: Lane;
  /** A scheduled email's time: its job is delayed until then (PostgreSQL keeps the time; the job is only its timer). */
  sendAt?: Date | null;
  /** Every address the email goes to (to, cc, bcc), for per-domain rate limits. */
  recipients?: readonly string[];
}

const SEND_JOB = 'send';

export function sendQueueName(lane: Lane): string {
  return `send-${lane}`;
}

/**
 * One BullMQ queue per lane. Jobs are keyed by email id (`jobId`), so enqueueing the same email
 * twice while a job exists is a no-op; PostgreSQL, not Redis, decides whether it was sent.
 * Every operation is bounded by a {@link QueueDeadline} (`QueueUnavailableError`); the sweeper
 * rebuilds what could not be enqueued.
 */
@Injectable()
export class SendQueue implements OnModuleInit, OnApplicationShutdown {
  private queues!: Record<Lane, Queue<SendJobData>>;
  private readonly deadline = new QueueDeadline('send queue');

  constructor(@Inject(MAILER_CONFIG) private readonly config: MailerConfig) {}

  onModuleInit(): void {
    const queue = (lane: Lane): Queue<SendJobData> => {
      const q = new Queue<SendJobData>(sendQueueName(lane), { connection: bullConnection(this.config.REDIS_URL, { tlsCa: this.config.REDIS_TLS_CA }), prefix: this.config.QUEUE_PREFIX });
      q.on('error', () => undefined); // connection errors surface as QueueUnavailableError and in /health/ready
      return q;
    };
    this.queues = { transactional: queue('transactional'), bulk: queue('bulk') };
  }

  /** Answers whether Redis responds within the deadline (for readiness). */
  async ping(): Promise<void> {
    await this.deadline.run('ping', () => this.queues.transactional.count());
  }

  /**
   * Adds the send job. Fails at once while Redis was found unreachable moments ago, so a Kafka
   * handler pays the deadline at most once per back-off during an outage; the sweeper (whose
   * `ensure()` always tries) creates the jobs when Redis is back.
   */
  async enqueue(emailId: string, lane: Lane, sendAt?: Date | null): Promise<void> {
    await this.enqueueMany([{ emailId, lane, sendAt }]);
  }

  /**
   * Adds the send jobs of many emails with one `addBulk` per lane, under one deadline and the
   * same fail-fast as {@link enqueue}. An email that already has a job keeps it: `addBulk` runs
   * BullMQ's add script per job, which returns the existing job for a known `jobId`, exactly as
   * `add` does. On failure some jobs may have been added; adding them again is a no-op.
   */
  async enqueueMany(items: readonly SendJobItem[]): Promise<void> {
    if (items.length === 0) return;
    this.deadline.failFast('enqueue');
    await this.deadline.run('enqueue', () =>
      Promise.all(
        LANES.map((lane) => {
          const laneItems = items.filter((item) => item.lane === lane);
          if (laneItems.length === 0) return undefined;
          return this.queues[lane].addBulk(
            laneItems.map((item) => ({ name: SEND_JOB, data: this.jobData(item), opts: this.jobOptions(item.emailId, item.sendAt) })),
          );
        }),
      ),
    );
  }

  private async add(emailId: string, lane: Lane, notBefore?: Date | null): Promise<void> {
    await this.queues[lane].add(SEND_JOB, { emailId }, this.jobOptions(emailId, notBefore));
  }

  private jobData({ emailId, recipients }: SendJobItem): SendJobData {
    if (this.config.RATE_LIMIT_DOMAINS.size === 0 || !recipients) return { emailId };
    return { emailId, domains: recipientDomains(recipients) };
  }

  /**
   * One job per email (`jobId`); the same options whether added one at a time or in bulk. A
   * scheduled email's job is delayed by what remains until its time, so a job rebuilt after Redis
   * lost it still fires at the time PostgreSQL keeps. BullMQ counts the delay on this host's clock.
   */
  private jobOptions(emailId: string, sendAt?: Date | null): JobsOptions {
    const delay = sendAt ? Math.max(0, sendAt.getTime() - Date.now()) : 0;
    return {
      jobId: emailId,
      ...(delay > 0 && { delay }),
      // BullMQ's attempts and back-off cover failures outside SMTP only (the database away): an
      // SMTP failure is retried by MailSender's own schedule, counted in PostgreSQL.
      attempts: this.config.SEND_MAX_ATTEMPTS,
      backoff: { type: 'exponential', delay: this.config.SEND_RETRY_BASE_MS },
      // Finished jobs are only a cache of what PostgreSQL records; keep Redis small.
      removeOnComplete: { age: 3_600, count: 10_000 },
      removeOnFail: { age: 24 * 3_600 },
    };
  }

  /**
   * Makes sure a runnable job exists for an email PostgreSQL still considers open (see `ensureJob`);
   * a job it has to add waits until `notBefore` (a scheduled email's `sendAt`, a retry's announced time).
   */
  async ensure(emailId: string, lane: Lane, options: { notBefore?: Date | null } = {}): Promise<EnsureJobOutcome> {
    return this.deadline.run('ensure', () => ensureJob(this.queues[lane], emailId, () => this.add(emailId, lane, options.notBefore)));
  }

  /**
   * Removes the send jobs of canceled emails, best effort: a job that is running (its lock held)
   * or that Redis could not be asked about stays, and finds its email canceled when it runs.
   */
  async removeMany(items: readonly SendJobItem[]): Promise<void> {
    if (items.length === 0) return;
    this.deadline.failFast('remove');
    await this.deadline.run('remove', () =>
      Promise.all(items.map(({ emailId, lane }) => this.queues[lane].remove(emailId).catch(() => 0))),
    );
  }

  async onApplicationShutdown(): Promise<void> {
    // With Redis away, close() would wait for it; the jobs are rebuilt from PostgreSQL anyway.
    await this.deadline.run('close', () => Promise.all(Object.values(this.queues).map((q) => q.close()))).catch(() => undefined);
  }
}
