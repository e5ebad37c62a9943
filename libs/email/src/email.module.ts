import { ConfigurableModuleBuilder, Module, type ConfigurableModuleAsyncOptions, type DynamicModule } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { Clock, IdGenerator } from '@app/common';
import { InboxModule } from '@app/inbox';
import { KafkaModule } from '@app/kafka';
import { KafkaOutboxPublisher, OutboxModule } from '@app/outbox';
import { EmailClient } from './email-client.js';
import { EmailEventHandlers } from './email-event-handlers.js';
import { EmailEventsController } from './email-events.controller.js';
import { EmailRepository } from './email.repository.js';
import { EmailStatusService } from './email-status.service.js';
import { EmailRetentionService } from './email-retention.service.js';
import { TemplateRenderer } from './templates/template-renderer.js';
import { TemplatesRepository } from './templates/templates.repository.js';
import { TemplatesService } from './templates/templates.service.js';
import { UnsubscribeHandlers } from './unsubscribe/unsubscribe-handlers.js';
import { UnsubscribeService } from './unsubscribe/unsubscribe.service.js';
import { UnsubscribesRepository } from './unsubscribe/unsubscribes.repository.js';
import { EMAIL_OPTIONS, resolveEmailModuleOptions, type EmailModuleOptions, type ResolvedEmailModuleOptions } from './email.options.js';

const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN: RAW_EMAIL_OPTIONS } = new ConfigurableModuleBuilder<EmailModuleOptions>({ moduleName: 'Email' }).setClassMethodName('forRoot').build();

/**
 * `EmailModule.forRootAsync()`'s argument: `useFactory` (with `inject` and `imports`), `useClass`
 * or `useExisting`, producing {@link EmailModuleOptions}, e.g. from `ConfigService`.
 */
export type EmailModuleAsyncOptions = ConfigurableModuleAsyncOptions<EmailModuleOptions>;

/** Holds the validated options of one `EmailModule` registration, for the module and its inner modules. */
@Module({})
class EmailOptionsModule {}

/**
 * Email delivery for a NestJS app: inject `EmailClient` and call `send()` inside your own
 * transaction; handle outcomes with `@OnEmailEvent()`. The module publishes its outbox to Kafka,
 * applies the mailer's status events exactly once and prunes what it no longer needs.
 *
 * Needs a default TypeORM `DataSource` (`TypeOrmModule.forRoot`) on `databaseUrl` whose
 * migrations include `emailMigrations(schema)`. Registers nothing globally: it exports
 * `EmailClient` and `TemplatesService`, plus the outbox and Kafka modules it runs for health checks (their classes are
 * not part of the package's public entry).
 */
@Module({})
export class EmailModule extends ConfigurableModuleClass {
  static override forRoot(options: EmailModuleOptions): DynamicModule {
    return EmailModule.assemble(super.forRoot(options));
  }

  static override forRootAsync(options: EmailModuleAsyncOptions): DynamicModule {
    return EmailModule.assemble(super.forRootAsync(options));
  }

  /**
   * The builder's definition provides the raw options (from a value or a factory); they are
   * validated once in an options module that the Kafka, outbox and inbox modules read, each
   * built here once so that every importer shares one instance.
   */
  private static assemble(definition: DynamicModule): DynamicModule {
    const options: DynamicModule = {
      module: EmailOptionsModule,
      imports: definition.imports ?? [],
      providers: [
        ...(definition.providers ?? []),
        { provide: EMAIL_OPTIONS, useFactory: resolveEmailModuleOptions, inject: [RAW_EMAIL_OPTIONS] },
      ],
      exports: [EMAIL_OPTIONS],
    };
    const fromOptions = { imports: [options], inject: [EMAIL_OPTIONS] };
    const kafka = KafkaModule.forRootAsync({ ...fromOptions, useFactory: (o: ResolvedEmailModuleOptions) => o.kafka });
    const outbox = OutboxModule.forRootAsync({
      ...fromOptions,
      useFactory: (o: ResolvedEmailModuleOptions) => ({
        schema: o.schema,
        runRelay: o.runRelay ?? true,
        ...(o.relay && { relay: o.relay }),
      }),
      publisher: KafkaOutboxPublisher,
      imports: [options, kafka],
    });
    const inbox = InboxModule.forRootAsync({ ...fromOptions, useFactory: (o: ResolvedEmailModuleOptions) => ({ schema: o.schema }) });
    return {
      module: EmailModule,
      imports: [DiscoveryModule, options, kafka, outbox, inbox],
      // Served by KafkaEventsTransport once the host connects it (see the README); `consumeEvents:
      // false` leaves its consumer out at start-up.
      controllers: [EmailEventsController],
      providers: [
        Clock,
        IdGenerator,
        EmailClient,
        EmailRepository,
        EmailStatusService,
        EmailEventHandlers,
        EmailRetentionService,
        TemplateRenderer,
        TemplatesRepository,
        TemplatesService,
        UnsubscribesRepository,
        UnsubscribeHandlers,
        UnsubscribeService,
      ],
      exports: [EmailClient, TemplatesService, UnsubscribeService, outbox, kafka],
    };
  }
}
