import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { RetentionJob, RetentionService } from '@app/retention';
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
export class WebhookRetentionService extends RetentionService {
  constructor(dataSource: DataSource, deliveries: WebhookDeliveriesRepository, @Inject(WEBHOOKS_OPTIONS) options: WebhooksOptions) {
    const deliveriesPolicy = {
      table: 'webhook_deliveries',
      ageMs: options.retentionMs,
      deleteBatch: (limit: number) => deliveries.deleteFinishedBefore(dataSource.manager, options.retentionMs, limit),
    };
    super(new RetentionJob(WebhookRetentionService.name, [deliveriesPolicy], { intervalMs: options.retentionIntervalMs, batchSize: BATCH_SIZE }));
  }
}
