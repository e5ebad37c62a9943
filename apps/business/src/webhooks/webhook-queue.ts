import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Queue, type ConnectionOptions } from 'bullmq';
import { DomainError } from '@app/common';
import { WEBHOOKS_OPTIONS, type WebhooksOptions } from './webhooks.options.js';

export const WEBHOOK_QUEUE_NAME = 'webhooks';
/** How long one queue operation may wait for Redis: BullMQ itself would wait for a connection forever. */
const QUEUE_OPERATION_DEADLINE_MS = 2_000;
/** After a missed deadline, how long `enqueue()` fails fast instead of waiting for Redis again. */
const UNREACHABLE_BACKOFF_MS = 5_000;

/** Redis did not answer in time. PostgreSQL still holds the delivery; the sweeper makes its job. */
export class WebhookQueueUnavailableError extends DomainError {
  readonly code = 'webhook_queue_unavailable';
  readonly retriable = true;
}

export interface WebhookJobData {
  deliveryId: string;
}

/** BullMQ connection options; workers block on Redis, so retries per request are unlimited. */
export function webhookQueueConnection(options: WebhooksOptions): ConnectionOptions {
  return { url: options.redisUrl, maxRetriesPerRequest: null };
}

/**
 * The `webhooks` BullMQ queue: a timer per delivery, nothing more. The job id is the delivery id,
 * so adding a delivery twice while its job exists is a no-op; whether and when it is attempted is
 * decided from PostgreSQL (`webhook_deliveries.status`, `next_attempt_at`). Every operation gives
 * up after {@link QUEUE_OPERATION_DEADLINE_MS} with a {@link WebhookQueueUnavailableError}.
 */
@Injectable()
export class WebhookQueue implements OnModuleInit, OnApplicationShutdown {
  private queue!: Queue<WebhookJobData>;
  /** Until when `enqueue()` fails fast: set by a missed deadline, cleared by an operation that made it. */
  private unreachableUntil = 0;

  constructor(@Inject(WEBHOOKS_OPTIONS) private readonly options: WebhooksOptions) {}

  onModuleInit(): void {
    this.queue = new Queue<WebhookJobData>(WEBHOOK_QUEUE_NAME, { connection: webhookQueueConnection(this.options), prefix: this.options.queuePrefix });
    this.queue.on('error', () => undefined); // surfaces as WebhookQueueUnavailableError; the sweeper retries
  }

  /** Adds the job of a new (or replayed) delivery, due in `delayMs`; fails fast during an outage. */
  async enqueue(deliveryId: string, delayMs = 0): Promise<void> {
    if (Date.now() < this.unreachableUntil) throw new WebhookQueueUnavailableError('webhook queue: Redis was unreachable moments ago');
    await this.withinDeadline('enqueue', () => this.add(deliveryId, delayMs));
  }

  /**
   * Makes sure a runnable job exists for a delivery PostgreSQL holds pending: adds a missing one
   * (Redis wiped), revives one BullMQ gave up on, replaces a finished one (a replay, a re-enabled
   * endpoint). Returns what it did.
   */
  async ensure(deliveryId: string, delayMs = 0): Promise<'added' | 'revived' | 'present'> {
    return this.withinDeadline('ensure', async () => {
      const job = await this.queue.getJob(deliveryId);
      if (!job) {
        await this.add(deliveryId, delayMs);
        return 'added';
      }
      const state = await job.getState();
      if (state === 'failed') {
        await job.retry('failed');
        return 'revived';
      }
      if (state === 'completed' || state === 'unknown') {
        await job.remove();
        await this.add(deliveryId, delayMs);
        return 'added';
      }
      return 'present';
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.withinDeadline('close', () => this.queue.close()).catch(() => undefined);
  }

  private async add(deliveryId: string, delayMs: number): Promise<void> {
    await this.queue.add(
      'deliver',
      { deliveryId },
      {
        jobId: deliveryId,
        delay: Math.max(0, delayMs),
        // BullMQ's own retries cover a database error during an attempt only; the retry schedule
        // of a failed HTTP request is ours (the processor moves the job to delayed).
        attempts: 5,
        backoff: { type: 'exponential', delay: 1_000 },
        removeOnComplete: { age: 3_600, count: 10_000 },
        removeOnFail: { age: 24 * 3_600 },
      },
    );
  }

  /** Runs an idempotent Redis operation, giving up waiting after the deadline (it may still complete later). */
  private async withinDeadline<T>(what: string, operation: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new WebhookQueueUnavailableError(`webhook queue ${what}: Redis did not answer within ${QUEUE_OPERATION_DEADLINE_MS} ms`)),
        QUEUE_OPERATION_DEADLINE_MS,
      );
    });
    const running = operation();
    running.catch(() => undefined);
    try {
      const result = await Promise.race([running, deadline]);
      this.unreachableUntil = 0;
      return result;
    } catch (error) {
      if (error instanceof WebhookQueueUnavailableError) this.unreachableUntil = Date.now() + UNREACHABLE_BACKOFF_MS;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}
