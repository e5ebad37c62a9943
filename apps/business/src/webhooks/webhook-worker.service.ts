import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DelayedError, Worker, type Job } from 'bullmq';
import { sleep } from '@app/common';
import { WebhookDeliveryService, type AttemptOutcome } from './webhook-delivery.service.js';
import { WEBHOOK_QUEUE_NAME, webhookQueueConnection, type WebhookJobData } from './webhook-queue.js';
import { WEBHOOKS_OPTIONS, type WebhooksOptions } from './webhooks.options.js';

/** How long BullMQ may take to acknowledge the last jobs on shutdown once every processor is done. */
const CLOSE_GRACE_MS = 2_000;

/**
 * The BullMQ worker of the `webhooks` queue: each job is one attempt of one delivery. A retry is
 * the same job moved to delayed until the delivery's `next_attempt_at` (so the job id stays the
 * delivery id); BullMQ's own attempts only cover an error of our own (the database away).
 */
@Injectable()
export class WebhookWorker implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(WebhookWorker.name);
  private worker?: Worker<WebhookJobData, AttemptOutcome['kind']>;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly delivery: WebhookDeliveryService,
    @Inject(WEBHOOKS_OPTIONS) private readonly options: WebhooksOptions,
  ) {}

  onApplicationBootstrap(): void {
    this.worker = new Worker<WebhookJobData, AttemptOutcome['kind']>(WEBHOOK_QUEUE_NAME, (job, token) => this.track(this.process(job, token)), {
      connection: webhookQueueConnection(this.options),
      prefix: this.options.queuePrefix,
      concurrency: this.options.concurrency,
      // A dead worker's job goes to another one after lockDuration (BullMQ's 30 s default is long
      // for a 5 s request); the claim in PostgreSQL keeps the two from overlapping anyway.
      lockDuration: 15_000,
      stalledInterval: 5_000,
    });
    this.worker.on('error', (error) => this.logger.error(`webhook worker: ${error.message}`));
  }

  /** Stops taking jobs and waits for the attempts in flight (their outcome is in PostgreSQL once they return). */
  async onApplicationShutdown(): Promise<void> {
    if (!this.worker) return;
    const closed = this.worker.close();
    const processorsDone = (async () => {
      await Promise.allSettled([...this.inFlight]);
      await sleep(CLOSE_GRACE_MS);
    })();
    await Promise.race([closed, processorsDone]);
  }

  private async track<T>(processing: Promise<T>): Promise<T> {
    this.inFlight.add(processing);
    try {
      return await processing;
    } finally {
      this.inFlight.delete(processing);
    }
  }

  private async process(job: Job<WebhookJobData>, token: string | undefined): Promise<AttemptOutcome['kind']> {
    const outcome = await this.delivery.attempt(job.data.deliveryId);
    if (outcome.kind === 'retry' || outcome.kind === 'not-due') {
      // Moving to delayed is not a failed BullMQ attempt: the retry schedule is ours.
      await job.moveToDelayed(Date.now() + outcome.inMs, token);
      throw new DelayedError();
    }
    return outcome.kind;
  }
}
