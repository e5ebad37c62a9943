import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Queue, type ConnectionOptions } from 'bullmq';
import { DomainError } from '@app/common';
import type { Lane } from '@app/contracts';
import { MAILER_CONFIG, type MailerConfig } from '../config.js';

/**
 * How long one queue operation may wait for Redis. BullMQ waits for a connection indefinitely
 * (also with the offline queue disabled), and a caller such as the Kafka handler must not.
 */
const QUEUE_OPERATION_DEADLINE_MS = 2_000;
/** After a missed deadline, how long `enqueue()` fails fast instead of waiting for Redis again. */
const UNREACHABLE_BACKOFF_MS = 5_000;

/** Redis did not answer in time: the queue is unreachable for now. PostgreSQL still holds the work. */
export class QueueUnavailableError extends DomainError {
  readonly code = 'queue_unavailable';
  readonly retriable = true;
}

export interface SendJobData {
  emailId: string;
}

export function sendQueueName(lane: Lane): string {
  return `send-${lane}`;
}

/** BullMQ connection options; workers block on Redis, so retries per request are unlimited. */
export function bullConnection(redisUrl: string): ConnectionOptions {
  return { url: redisUrl, maxRetriesPerRequest: null };
}

/**
 * One BullMQ queue per lane. Jobs are keyed by email id (`jobId`), so enqueueing the same email
 * twice while a job exists is a no-op; PostgreSQL, not Redis, decides whether it was sent.
 * Every operation gives up after {@link QUEUE_OPERATION_DEADLINE_MS} with a
 * {@link QueueUnavailableError}; the sweeper rebuilds what could not be enqueued.
 */
@Injectable()
export class SendQueue implements OnModuleInit, OnApplicationShutdown {
  private queues!: Record<Lane, Queue<SendJobData>>;
  /** Until when `enqueue()` fails fast: set when an operation missed its deadline, cleared by one that did not. */
  private unreachableUntil = 0;

  constructor(@Inject(MAILER_CONFIG) private readonly config: MailerConfig) {}

  onModuleInit(): void {
    const queue = (lane: Lane): Queue<SendJobData> => {
      const q = new Queue<SendJobData>(sendQueueName(lane), { connection: bullConnection(this.config.REDIS_URL), prefix: this.config.QUEUE_PREFIX });
      q.on('error', () => undefined); // connection errors surface as QueueUnavailableError and in /health/ready
      return q;
    };
    this.queues = { transactional: queue('transactional'), bulk: queue('bulk') };
  }

  /** Answers whether Redis responds within the deadline (for readiness). */
  async ping(): Promise<void> {
    await this.withinDeadline('ping', () => this.queues.transactional.count());
  }

  /**
   * Adds the send job. Fails at once while Redis was found unreachable in the last
   * {@link UNREACHABLE_BACKOFF_MS}, so a Kafka handler pays the deadline at most once per back-off
   * during an outage; the sweeper (whose `ensure()` always tries) creates the jobs when Redis is back.
   */
  async enqueue(emailId: string, lane: Lane): Promise<void> {
    if (Date.now() < this.unreachableUntil) {
      throw new QueueUnavailableError('queue enqueue: Redis was unreachable moments ago; not waiting for it again yet');
    }
    await this.withinDeadline('enqueue', () => this.add(emailId, lane));
  }

  private async add(emailId: string, lane: Lane): Promise<void> {
    await this.queues[lane].add(
      'send',
      { emailId },
      {
        jobId: emailId,
        attempts: this.config.SEND_MAX_ATTEMPTS,
        backoff: { type: 'exponential', delay: this.config.SEND_RETRY_BASE_MS },
        // Finished jobs are only a cache of what PostgreSQL records; keep Redis small.
        removeOnComplete: { age: 3_600, count: 10_000 },
        removeOnFail: { age: 24 * 3_600 },
      },
    );
  }

  /**
   * Makes sure a runnable job exists for an email PostgreSQL still considers open: re-adds a
   * missing job (Redis wiped), revives a job BullMQ gave up on, replaces a finished one.
   * Returns what it did.
   */
  async ensure(emailId: string, lane: Lane): Promise<'added' | 'revived' | 'present'> {
    return this.withinDeadline('ensure', async () => {
      const job = await this.queues[lane].getJob(emailId);
      if (!job) {
        await this.add(emailId, lane);
        return 'added';
      }
      const state = await job.getState();
      if (state === 'failed') {
        await job.retry('failed');
        return 'revived';
      }
      if (state === 'completed' || state === 'unknown') {
        await job.remove();
        await this.add(emailId, lane);
        return 'added';
      }
      return 'present';
    });
  }

  async onApplicationShutdown(): Promise<void> {
    // With Redis away, close() would wait for it; the jobs are rebuilt from PostgreSQL anyway.
    await this.withinDeadline('close', () => Promise.all(Object.values(this.queues).map((q) => q.close()))).catch(() => undefined);
  }

  /**
   * Runs a Redis operation, giving up waiting after the deadline. The operation itself may still
   * complete later (BullMQ queues it until Redis is back); every operation here is idempotent.
   */
  private async withinDeadline<T>(what: string, operation: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new QueueUnavailableError(`queue ${what}: Redis did not answer within ${QUEUE_OPERATION_DEADLINE_MS} ms`)),
        QUEUE_OPERATION_DEADLINE_MS,
      );
    });
    const running = operation();
    running.catch(() => undefined); // a late failure after the deadline is not news
    try {
      const result = await Promise.race([running, deadline]);
      this.unreachableUntil = 0;
      return result;
    } catch (error) {
      if (error instanceof QueueUnavailableError) this.unreachableUntil = Date.now() + UNREACHABLE_BACKOFF_MS;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}
