import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { Queue, type ConnectionOptions } from 'bullmq';
import type { Lane } from '@app/contracts';
import { MAILER_CONFIG, type MailerConfig } from '../config.js';

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
 */
@Injectable()
export class SendQueue implements OnApplicationShutdown {
  private readonly queues: Record<Lane, Queue<SendJobData>>;

  constructor(@Inject(MAILER_CONFIG) private readonly config: MailerConfig) {
    const queue = (lane: Lane): Queue<SendJobData> =>
      new Queue<SendJobData>(sendQueueName(lane), { connection: bullConnection(config.REDIS_URL), prefix: config.QUEUE_PREFIX });
    this.queues = { transactional: queue('transactional'), bulk: queue('bulk') };
  }

  async enqueue(emailId: string, lane: Lane): Promise<void> {
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
    const job = await this.queues[lane].getJob(emailId);
    if (!job) {
      await this.enqueue(emailId, lane);
      return 'added';
    }
    const state = await job.getState();
    if (state === 'failed') {
      await job.retry('failed');
      return 'revived';
    }
    if (state === 'completed' || state === 'unknown') {
      await job.remove();
      await this.enqueue(emailId, lane);
      return 'added';
    }
    return 'present';
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all(Object.values(this.queues).map((q) => q.close()));
  }
}
