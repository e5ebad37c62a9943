import { API_KEY_MIGRATIONS } from '@app/auth';
import { Module, type DynamicModule } from '@nestjs/common';
import { Clock, IdGenerator } from '@app/common';
import { WebhookSecretCipher } from '@app/webhooks';
import { WebhookDeliveriesRepository } from './webhook-deliveries.repository.js';
import { WebhookDeliveryService } from './webhook-delivery.service.js';
import { WebhookEndpointsRepository } from './webhook-endpoints.repository.js';
import { WebhookFanoutService } from './webhook-fanout.service.js';
import { WebhookJobSweeper } from './webhook-job-sweeper.js';
import { WebhookQueue } from './webhook-queue.js';
import { WebhookRetentionService } from './webhook-retention.service.js';
import { WebhookSecretsReencryptionService } from './webhook-secrets-reencryption.service.js';
import { WebhookWorker } from './webhook-worker.service.js';
import { CreateWebhooks1763900000200, WebhookOwners1763900000300 } from './webhooks.migration.js';
import { WebhooksController } from './webhooks.controller.js';
import { WebhooksService } from './webhooks.service.js';
import { WEBHOOKS_OPTIONS, type WebhooksOptions } from './webhooks.options.js';

/**
 * The migrations of the webhook tables; add them after the email module's. The API keys' table is
 * among them because the fan-out reads it (endpoints of revoked keys receive nothing).
 */
export const WEBHOOK_MIGRATIONS = [CreateWebhooks1763900000200, WebhookOwners1763900000300, ...API_KEY_MIGRATIONS];

/**
 * Signed webhooks for email status events: endpoints and delivery history over HTTP, deliveries
 * created with each applied event (`@OnEmailEvent`), sent by a BullMQ worker, rebuilt from
 * PostgreSQL by a sweeper. Needs the app's TypeORM `DataSource` and the email module.
 */
@Module({})
export class WebhooksModule {
  static forRoot(options: WebhooksOptions): DynamicModule {
    return {
      module: WebhooksModule,
      controllers: [WebhooksController],
      providers: [
        { provide: WEBHOOKS_OPTIONS, useValue: options },
        { provide: WebhookSecretCipher, useValue: new WebhookSecretCipher(options.secretsKeys) },
        WebhookSecretsReencryptionService,
        Clock,
        IdGenerator,
        WebhookEndpointsRepository,
        WebhookDeliveriesRepository,
        WebhookQueue,
        WebhookJobSweeper,
        WebhookFanoutService,
        WebhookDeliveryService,
        WebhookWorker,
        WebhookRetentionService,
        WebhooksService,
      ],
    };
  }
}
