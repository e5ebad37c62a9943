import { Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApiKeysModule } from '@app/auth';
import { Clock, IdGenerator } from '@app/common';
import { InboxModule } from '@app/inbox';
import { KafkaModule } from '@app/kafka';
import { KafkaOutboxPublisher, OutboxModule } from '@app/outbox';
import { TerminusModule } from '@nestjs/terminus';
import { DatabaseProbe, HealthController, KafkaConsumersProbe, dependencyProbes } from '@app/health';
import { MAIL_CHECK_PROVIDERS } from './checks/mail-checks.providers.js';
import { MAILER_CONFIG, type MailerConfig } from './config.js';
import { MAILER_MIGRATIONS } from './database/migrations.js';
import { MailEvents } from './events/mail-events.js';
import { ReconciliationController } from './reconciliation/reconciliation.controller.js';
import { ReconciliationService } from './reconciliation/reconciliation.service.js';
import { MailerRetentionService } from './retention/mailer-retention.service.js';
import { MailRequestsController } from './requests/mail-requests.controller.js';
import { MailRequestsRepository } from './requests/mail-requests.repository.js';
import { MailRequestsService } from './requests/mail-requests.service.js';
import { MailCancelsService } from './requests/mail-cancels.service.js';
import { MailSender } from './sending/mail-sender.service.js';
import { SendJobSweeper } from './sending/send-job-sweeper.js';
import { SendQueue } from './sending/send-queue.js';
import { SendWorkers } from './sending/send-workers.js';
import { SendRateLimiter } from './rate-limits/send-rate-limiter.js';
import { SmtpTransport } from './sending/smtp.transport.js';
import { RedisProbe } from './sending/redis.probe.js';
import { SmtpProbe } from './sending/smtp.probe.js';
import { SuppressionChangesController } from './suppressions/suppression-changes.controller.js';
import { SuppressionsController } from './suppressions/suppressions.controller.js';
import { SuppressionsRepository } from './suppressions/suppressions.repository.js';
import { SuppressionsService } from './suppressions/suppressions.service.js';

@Module({})
export class AppModule {
  static forConfig(config: MailerConfig): DynamicModule {
    // One module object: the outbox's publisher and this app's consumers share its client.
    const kafka = KafkaModule.forRoot({
      brokers: config.KAFKA_BROKERS,
      clientId: 'mailer',
      topicPrefix: config.KAFKA_TOPIC_PREFIX,
      partitions: config.KAFKA_TOPIC_PARTITIONS,
      ...(config.KAFKA_REPLICATION_FACTOR !== undefined && { replicationFactor: config.KAFKA_REPLICATION_FACTOR }),
      ...(config.KAFKA_MIN_INSYNC_REPLICAS !== undefined && { minInsyncReplicas: config.KAFKA_MIN_INSYNC_REPLICAS }),
      ...config.KAFKA_SECURITY,
    });
    return {
      module: AppModule,
      imports: [
        TypeOrmModule.forRoot({
          type: 'postgres',
          url: config.MAILER_DATABASE_URL,
          migrations: MAILER_MIGRATIONS,
          migrationsRun: false, // run under an advisory lock in main.ts
          extra: { max: 30 },
        }),
        kafka,
        // The mailer's tables (its own database) stay in `public`, where MAILER_MIGRATIONS put them.
        OutboxModule.forRoot({
          relay: { pollIntervalMs: config.OUTBOX_POLL_INTERVAL_MS },
          publisher: KafkaOutboxPublisher,
          imports: [kafka],
        }),
        TerminusModule.forRoot({ logger: false }),
        InboxModule.forRoot({}),
        ApiKeysModule.forRoot({
          app: 'mailer',
          bootstrapKeyHashes: config.MAILER_API_KEYS,
          bootstrapKeysVariable: 'MAILER_API_KEYS',
          rateLimit: { redisUrl: config.REDIS_URL, redisTlsCa: config.REDIS_TLS_CA, keyPrefix: `${config.QUEUE_PREFIX}:mailer:api-rate`, rate: config.API_RATE_LIMIT },
        }),
      ],
      controllers: [HealthController, ReconciliationController, MailRequestsController, SuppressionsController, SuppressionChangesController],
      providers: [
        { provide: MAILER_CONFIG, useValue: config },
        Clock,
        IdGenerator,
        MailEvents,
        MailRequestsRepository,
        MailRequestsService,
        MailCancelsService,
        MailSender,
        MailerRetentionService,
        ReconciliationService,
        SendQueue,
        SendJobSweeper,
        SendRateLimiter,
        SendWorkers,
        SmtpTransport,
        SuppressionsRepository,
        SuppressionsService,
        ...MAIL_CHECK_PROVIDERS,
        ...dependencyProbes([DatabaseProbe, KafkaConsumersProbe, RedisProbe, SmtpProbe]),
      ],
    };
  }
}
