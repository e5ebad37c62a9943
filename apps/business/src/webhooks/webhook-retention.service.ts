import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { RetentionJob } from '@app/retention';
import { WebhookDeliveriesRepository } from './webhook-deliveries.repository.js';
import { WEBHOOKS_OPTIONS, type WebhooksOptions } from './webhooks.options.js';

/** Rows per delete statement. */
const BATCH_SIZE = 1_000;

/**
 * Deletes delivered and failed deliveries, with their attempts, `retentionMs` after their last
 * change (0 keeps them). Pending deliveries are never deleted, also those paused on a disabled
 * endpoint; deleting the endpoint removes them. A replay needs the row, so it is possible only
 * within the retention.
 */
@Injectable()
export class WebhookRetentionService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly job: RetentionJob;

  constructor(dataSource: DataSource, deliveries: WebhookDeliveriesRepository, @Inject(WEBHOOKS_OPTIONS) options: WebhooksOptions) {
    this.job = new RetentionJob(
      WebhookRetentionService.name,
      [
        {
          table: 'webhook_deliveries',
          ageMs: options.retentionMs,
          deleteBatch: (limit) => deliveries.deleteFinishedBefore(dataSource.manager, options.retentionMs, limit),
        },
      ],
      { intervalMs: options.retentionIntervalMs, batchSize: BATCH_SIZE },
    );
  }

  onApplicationBootstrap(): void {
    this.job.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.job.stop();
  }

  /** One pruning pass; returns how many rows it deleted. For tests and tooling. */
  prune(): Promise<Record<string, number>> {
    return this.job.runOnce();
  }
}
