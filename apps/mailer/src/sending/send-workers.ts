import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import { LANES, type Lane } from '@app/contracts';
import { isRetriable, sleep } from '@app/common';

/** How long BullMQ may take to acknowledge the last jobs on shutdown once every processor is done. */
const CLOSE_GRACE_MS = 2_000;
import { MAILER_CONFIG, type MailerConfig } from '../config.js';
import { DataSource } from 'typeorm';
import { MailSender } from './mail-sender.service.js';
import { MailRequestsRepository } from '../requests/mail-requests.repository.js';
import { SendRateLimiter } from '../rate-limits/send-rate-limiter.js';
import { recipientDomains } from '../rate-limits/send-rate.js';
import { AttemptInProgressError, NotDueYetError } from './attempt.errors.js';
import { bullConnection } from '@app/queue';
import { sendQueueName, type SendJobData } from './send-queue.js';

/** The BullMQ workers that send mail, one per lane with its own concurrency. */
@Injectable()
export class SendWorkers implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(SendWorkers.name);
  private workers: Worker<SendJobData>[] = [];
  private readonly inFlight = new Set<Promise<string>>();

  constructor(
    private readonly sender: MailSender,
    private readonly rateLimiter: SendRateLimiter,
    private readonly dataSource: DataSource,
    private readonly requests: MailRequestsRepository,
    @Inject(MAILER_CONFIG) private readonly config: MailerConfig,
  ) {}

  onApplicationBootstrap(): void {
    const concurrency: Record<Lane, number> = {
      transactional: this.config.SEND_CONCURRENCY_TRANSACTIONAL,
      bulk: this.config.SEND_CONCURRENCY_BULK,
    };
    this.workers = LANES.map((lane) => {
      const worker = new Worker<SendJobData>(sendQueueName(lane), (job, token) => this.track(this.process(lane, job, token)), {
        connection: bullConnection(this.config.REDIS_URL, { tlsCa: this.config.REDIS_TLS_CA }),
        prefix: this.config.QUEUE_PREFIX,
        concurrency: concurrency[lane],
        // A worker that dies holding a job loses its lock after lockDuration; the stalled-job
        // check (every stalledInterval) then hands the job to another worker. BullMQ's 30 s
        // defaults made a mailer crash cost a minute; the lock is renewed every lockDuration/2.
        lockDuration: 15_000,
        stalledInterval: 5_000,
      });
      worker.on('error', (error) => this.logger.error(`worker ${lane}: ${error.message}`));
      return worker;
    });
  }

  /**
   * Stops taking jobs and waits for the ones in flight (BullMQ `close()` semantics). With Redis
   * away, `close()` would wait for it forever to acknowledge the finished jobs; what matters, each
   * attempt's outcome in PostgreSQL, is written before a processor returns, so once our processors
   * are done BullMQ gets a short grace and the shutdown goes on.
   */
  async onApplicationShutdown(): Promise<void> {
    const closed = Promise.all(this.workers.map((w) => w.close()));
    const processorsDone = (async () => {
      await Promise.allSettled([...this.inFlight]);
      await sleep(CLOSE_GRACE_MS);
    })();
    await Promise.race([closed, processorsDone]);
  }

  private async track(processing: Promise<string>): Promise<string> {
    this.inFlight.add(processing);
    try {
      return await processing;
    } finally {
      this.inFlight.delete(processing);
    }
  }

  /** The recipients' domains: carried by the job, or read from the request for a job rebuilt without them. */
  private async domainsOf(job: Job<SendJobData>): Promise<string[]> {
    if (job.data.domains || !this.rateLimiter.limitsDomains) return job.data.domains ?? [];
    const request = await this.requests.find(this.dataSource.manager, job.data.emailId);
    if (!request) return [];
    const { to, cc = [], bcc = [] } = request.payload;
    return recipientDomains([...to, ...cc, ...bcc]);
  }

  private async process(lane: Lane, job: Job<SendJobData>, token: string | undefined): Promise<string> {
    try {
      if (this.rateLimiter.enabled) {
        const waitMs = await this.rateLimiter.delayFor(lane, await this.domainsOf(job));
        if (waitMs > 0) {
          // Over a send rate: wait for a free slot. Not an attempt (nothing started in
          // PostgreSQL) and not a failed job for BullMQ, however long the wait.
          await job.moveToDelayed(Date.now() + waitMs, token);
          throw new DelayedError();
        }
      }
      const outcome = await this.sender.send(job.data.emailId);
      if (typeof outcome === 'string') return outcome;
      // A temporary SMTP failure, recorded with its `nextAttemptAt`: the job waits for exactly that
      // time. Moving it to delayed is not a failed job for BullMQ (its own back-off and attempt
      // budget are kept for failures outside SMTP); PostgreSQL counts the attempts.
      await job.moveToDelayed(outcome.retryAt.getTime(), token);
      throw new DelayedError();
    } catch (error) {
      if (error instanceof DelayedError) throw error;
      if (error instanceof AttemptInProgressError) {
        // Another worker is still sending this email (this job is a copy the sweeper rebuilt after
        // Redis lost the original): look again once that attempt's lease can have run out. Moving
        // the job to delayed does not count as a failed attempt.
        this.logger.warn(`${error.message}; looking again in ${this.config.SEND_ATTEMPT_LEASE_MS} ms`);
        await job.moveToDelayed(Date.now() + this.config.SEND_ATTEMPT_LEASE_MS, token);
        throw new DelayedError();
      }
      if (error instanceof NotDueYetError) {
        // Woken before the email's time (PostgreSQL's `send_at` or `next_attempt_at` decides, not the job): wait for it.
        await job.moveToDelayed(error.dueAt.getTime(), token);
        throw new DelayedError();
      }
      // Tell BullMQ not to retry what can never succeed; everything else backs off and retries.
      if (!isRetriable(error)) throw new UnrecoverableError(error instanceof Error ? error.message : String(error));
      throw error;
    }
  }
}
