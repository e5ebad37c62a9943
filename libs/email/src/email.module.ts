import { Module, type DynamicModule } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { Clock, IdGenerator } from '@app/common';
import { InboxModule } from '@app/inbox';
import { KafkaModule } from '@app/kafka';
import { KafkaOutboxPublisher, OutboxModule } from '@app/outbox';
import { EmailClient } from './email-client.js';
import { EmailEventHandlers } from './email-event-handlers.js';
import { EmailEventsConsumer } from './email-events.consumer.js';
import { EmailRepository } from './email.repository.js';
import { EmailStatusService } from './email-status.service.js';
import { EmailRetentionService } from './email-retention.service.js';
import { EMAIL_OPTIONS, type EmailModuleOptions } from './email.options.js';

/**
 * Email delivery for a NestJS app: inject `EmailClient` and call `send()` inside your own
 * transaction. The module publishes the outbox to Kafka, applies the mailer's status events and
 * prunes what it no longer needs (`EmailModuleOptions.retention`).
 *
 * Needs a default TypeORM `DataSource` (`TypeOrmModule.forRoot`) whose migrations include
 * `EMAIL_MIGRATIONS`.
 */
@Module({})
export class EmailModule {
  static forRoot(options: EmailModuleOptions): DynamicModule {
    return {
      module: EmailModule,
      imports: [
        DiscoveryModule,
        KafkaModule.forRoot(options.kafka),
        InboxModule,
        OutboxModule.forRoot({
          connectionString: options.databaseUrl,
          publisher: KafkaOutboxPublisher,
          runRelay: options.runRelay ?? true,
          ...(options.relay && { relay: options.relay }),
        }),
      ],
      providers: [
        { provide: EMAIL_OPTIONS, useValue: options },
        Clock,
        IdGenerator,
        EmailClient,
        EmailRepository,
        EmailStatusService,
        EmailEventHandlers,
        EmailEventsConsumer,
        EmailRetentionService,
      ],
      exports: [EmailClient, OutboxModule],
    };
  }
}
