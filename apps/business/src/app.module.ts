import { Module, type DynamicModule } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ApiKeysModule } from '@app/auth';
import { EmailModule, emailMigrations } from '@app/email';
import { TerminusModule } from '@nestjs/terminus';
import { DatabaseProbe, HealthController, KafkaConsumersProbe, dependencyProbes } from '@app/health';
import { PublicListenerModule } from '@app/edge';
import { daysToMs } from '@app/retention';
import type { BusinessConfig } from './config.js';
import { EmailsController } from './emails/emails.controller.js';
import { TemplatesController } from './templates/templates.controller.js';
import { PUBLIC_ROUTES } from './public-routes.js';
import { UnsubscribeController } from './unsubscribe/unsubscribe.controller.js';
import { WEBHOOK_MIGRATIONS, WebhooksModule } from './webhooks/webhooks.module.js';

@Module({})
export class AppModule {
  static forConfig(config: BusinessConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        TypeOrmModule.forRoot({
          type: 'postgres',
          url: config.BUSINESS_DATABASE_URL,
          migrations: [...emailMigrations(config.EMAIL_SCHEMA), ...WEBHOOK_MIGRATIONS], // WEBHOOK_MIGRATIONS include the API keys' table
          migrationsRun: false, // run under an advisory lock in main.ts
          extra: { max: 20 },
        }),
        // appName 'business' + the configured prefix keep the deployed group `<prefix>business.email-events`.
        EmailModule.forRoot({
          appName: 'business',
          schema: config.EMAIL_SCHEMA,
          databaseUrl: config.BUSINESS_DATABASE_URL,
          kafka: {
            brokers: config.KAFKA_BROKERS,
            topicPrefix: config.KAFKA_TOPIC_PREFIX,
            partitions: config.KAFKA_TOPIC_PARTITIONS,
            ...(config.KAFKA_REPLICATION_FACTOR !== undefined && { replicationFactor: config.KAFKA_REPLICATION_FACTOR }),
            ...(config.KAFKA_MIN_INSYNC_REPLICAS !== undefined && { minInsyncReplicas: config.KAFKA_MIN_INSYNC_REPLICAS }),
            ...config.KAFKA_SECURITY,
          },
          maxMessageBytes: config.KAFKA_MAX_MESSAGE_BYTES,
          senderDomains: config.MAIL_SENDER_DOMAINS,
          maxAttachmentBytes: config.MAIL_MAX_ATTACHMENT_BYTES,
          maxScheduleAheadMs: config.SEND_AT_MAX_AHEAD_DAYS * 86_400_000,
          relay: { pollIntervalMs: config.OUTBOX_POLL_INTERVAL_MS },
          templateRendering: { timeoutMs: config.TEMPLATE_RENDER_TIMEOUT_MS, threads: config.TEMPLATE_RENDER_THREADS, maxMemoryMb: config.TEMPLATE_RENDER_MAX_MEMORY_MB },
          retention: {
            emailsMs: daysToMs(config.EMAIL_RETENTION_DAYS),
            inboxMs: daysToMs(config.INBOX_RETENTION_DAYS),
            intervalMs: config.RETENTION_INTERVAL_MS,
          },
          ...(config.UNSUBSCRIBE_BASE_URL !== undefined &&
            config.UNSUBSCRIBE_SECRET !== undefined && {
              unsubscribe: {
                urlPrefix: `${config.UNSUBSCRIBE_BASE_URL}/v1/unsubscribe/`,
                secret: config.UNSUBSCRIBE_SECRET,
                previousSecrets: config.UNSUBSCRIBE_PREVIOUS_SECRETS,
              },
            }),
        }),
        WebhooksModule.forRoot({
          redisUrl: config.REDIS_URL,
          redisTlsCa: config.REDIS_TLS_CA,
          queuePrefix: config.QUEUE_PREFIX,
          concurrency: config.WEBHOOK_CONCURRENCY,
          timeoutMs: config.WEBHOOK_TIMEOUT_MS,
          retrySchedule: config.WEBHOOK_RETRY_SCHEDULE_MS,
          allowedNetworks: config.WEBHOOK_ALLOWED_NETWORKS,
          secretRotationGraceMs: config.WEBHOOK_SECRET_ROTATION_GRACE_MS,
          disableAfterMs: config.WEBHOOK_DISABLE_AFTER_MS,
          retentionMs: daysToMs(config.WEBHOOK_RETENTION_DAYS),
          retentionIntervalMs: config.RETENTION_INTERVAL_MS,
          sweepIntervalMs: config.WEBHOOK_SWEEP_INTERVAL_MS,
          maxEndpointsPerKey: config.WEBHOOK_MAX_ENDPOINTS_PER_KEY,
          maxEndpoints: config.WEBHOOK_MAX_ENDPOINTS,
          secretsKeys: { current: config.WEBHOOK_SECRETS_KEY, previous: config.WEBHOOK_SECRETS_PREVIOUS_KEYS },
        }),
        TerminusModule.forRoot({ logger: false }),
        PublicListenerModule.forRoot({ port: config.PUBLIC_PORT, host: config.PUBLIC_HOST, routes: PUBLIC_ROUTES }),
        ApiKeysModule.forRoot({
          app: 'business',
          bootstrapKeyHashes: config.BUSINESS_API_KEYS,
          bootstrapKeysVariable: 'BUSINESS_API_KEYS',
          rateLimit: { redisUrl: config.REDIS_URL, redisTlsCa: config.REDIS_TLS_CA, keyPrefix: `${config.QUEUE_PREFIX}:business:api-rate`, rate: config.API_RATE_LIMIT },
        }),
      ],
      controllers: [EmailsController, TemplatesController, UnsubscribeController, HealthController],
      providers: dependencyProbes([DatabaseProbe, KafkaConsumersProbe]),
    };
  }
}
