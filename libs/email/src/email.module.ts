import { Module, type DynamicModule } from '@nestjs/common';
import { Clock, IdGenerator } from '@app/common';
import { InboxModule } from '@app/inbox';
import { KafkaModule } from '@app/kafka';
import { KafkaOutboxPublisher, OutboxModule } from '@app/outbox';
import { EmailClient } from './email-client.js';
import { EmailEventsController } from './email-events.controller.js';
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
        KafkaModule.forRoot(options.kafka),
        InboxModule,
        OutboxModule.forRoot({
          connectionString: options.databaseUrl,
          publisher: KafkaOutboxPublisher,
          runRelay: options.runRelay ?? true,
          ...(options.relay && { relay: options.relay }),
        }),
      ],
      // Served by KafkaEventsTransport once the host connects it (see the README).
      controllers: options.consumeEvents === false ? [] : [EmailEventsController],
      providers: [
        { provide: EMAIL_OPTIONS, useValue: options },
        Clock,
        IdGenerator,
        EmailClient,
        EmailRepository,
        EmailStatusService,
        EmailRetentionService,
      ],
      exports: [EmailClient, OutboxModule],
    };
  }
}
