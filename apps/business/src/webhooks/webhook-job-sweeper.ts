import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { JobSweeper, type EnsureJobOutcome } from '@app/queue';
import { WebhookDeliveriesRepository, type DueDelivery } from './webhook-deliveries.repository.js';
import { WebhookQueue } from './webhook-queue.js';
import { WEBHOOKS_OPTIONS, type WebhooksOptions } from './webhooks.options.js';

/**
 * Redis is only the timer: every delivery PostgreSQL holds pending and due (endpoint enabled)
 * gets a runnable job (`WebhookQueue.ensure`). After a `FLUSHALL`, a lost enqueue, a worker that
 * died mid-attempt (its claim runs out) or a job BullMQ gave up on, the delivery is attempted
 * again; nothing stays stuck. `sweepSoon()` is also the wake-up after a replay or a re-enabled
 * endpoint.
 */
@Injectable()
export class WebhookJobSweeper extends JobSweeper<DueDelivery> {
  constructor(
    private readonly dataSource: DataSource,
    private readonly deliveries: WebhookDeliveriesRepository,
    private readonly queue: WebhookQueue,
    @Inject(WEBHOOKS_OPTIONS) options: WebhooksOptions,
  ) {
    super('webhook', options.sweepIntervalMs);
  }

  protected page(after: DueDelivery | null, limit: number): Promise<DueDelivery[]> {
    return this.deliveries.listDue(this.dataSource.manager, limit, after);
  }

  protected ensure({ id }: DueDelivery): Promise<EnsureJobOutcome> {
    return this.queue.ensure(id);
  }
}
