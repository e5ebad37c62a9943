import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { QueueDeadline, bullConnection, ensureJob, type EnsureJobOutcome } from '@app/queue';
import { WEBHOOKS_OPTIONS, type WebhooksOptions } from './webhooks.options.js';

export const WEBHOOK_QUEUE_NAME = 'webhooks';

export interface WebhookJobData {
  deliveryId: string;
}

/** BullMQ connection options of the webhook queue and its worker. */
export function webhookQueueConnection(options: WebhooksOptions): ConnectionOptions {
  return bullConnection(options.redisUrl, { tlsCa: options.redisTlsCa });
}

/**
 * The `webhooks` BullMQ queue: a timer per delivery, nothing more. The job id is the delivery id,
 * so adding a delivery twice while its job exists is a no-op; whether and when it is attempted is
 * decided from PostgreSQL (`webhook_deliveries.status`, `next_attempt_at`). Every operation
 * is bounded by a {@link QueueDeadline} (`QueueUnavailableError`).
 */
@Injectable()
export class WebhookQueue implements OnModuleInit, OnApplicationShutdown {
  private queue!: Queue<WebhookJobData>;
  private readonly deadline = new QueueDeadline('webhook queue');

  constructor(@Inject(WEBHOOKS_OPTIONS) private readonly options: WebhooksOptions) {}

  onModuleInit(): void {
    this.queue = new Queue<WebhookJobData>(WEBHOOK_QUEUE_NAME, { connection: webhookQueueConnection(this.options), prefix: this.options.queuePrefix });
    this.queue.on('error', () => undefined); // surfaces as QueueUnavailableError; the sweeper retries
  }

  /** Adds the job of a new (or replayed) delivery, due in `delayMs`; fails fast during an outage. */
  async enqueue(deliveryId: string, delayMs = 0): Promise<void> {
    this.deadline.failFast('enqueue');
    await this.deadline.run('enqueue', () => this.add(deliveryId, delayMs));
  }

  /**
   * Adds the jobs of new deliveries, due now, in one Redis round trip (`addBulk`, one MULTI): an
   * event fanned out to many endpoints costs one call, not one per endpoint. A job id that exists
   * already is left as it is, as with `add`; fails fast during an outage.
   */
  async enqueueMany(deliveryIds: readonly string[]): Promise<void> {
    if (deliveryIds.length === 0) return;
    this.deadline.failFast('enqueue');
    await this.deadline.run('enqueue', () =>
      this.queue.addBulk(deliveryIds.map((deliveryId) => ({ name: 'deliver', data: { deliveryId }, opts: this.jobOptions(deliveryId, 0) }))),
    );
  }

  /**
   * Makes sure a delivery PostgreSQL holds pending and due gets attempted now: adds a missing job
   * (Redis wiped), revives one BullMQ gave up on, replaces a finished one (a replay), and promotes
   * one still waiting out an earlier retry delay (an endpoint re-enabled). An attempt that finds
   * the delivery not due after all (a race with another attempt) delays itself again.
   */
  async ensure(deliveryId: string): Promise<EnsureJobOutcome> {
    return this.deadline.run('ensure', () => ensureJob(this.queue, deliveryId, () => this.add(deliveryId, 0), { dueNow: true }));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.deadline.run('close', () => this.queue.close()).catch(() => undefined);
  }

  private async add(deliveryId: string, delayMs: number): Promise<void> {
    await this.queue.add('deliver', { deliveryId }, this.jobOptions(deliveryId, delayMs));
  }

  private jobOptions(deliveryId: string, delayMs: number): JobsOptions {
    return {
      jobId: deliveryId,
      delay: Math.max(0, delayMs),
      // BullMQ's own retries cover a database error during an attempt only; the retry schedule
      // of a failed HTTP request is ours (the processor moves the job to delayed).
      attempts: 5,
      backoff: { type: 'exponential', delay: 1_000 },
      removeOnComplete: { age: 3_600, count: 10_000 },
      removeOnFail: { age: 24 * 3_600 },
    };
  }
}
