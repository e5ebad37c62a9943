import { z } from 'zod';
import { configFields, loadConfig } from '@app/common';
import { DEFAULT_MAX_MESSAGE_BYTES } from '@app/email';
import { TOPIC_MESSAGE_MAX_AGE_DAYS } from '@app/kafka';

const businessConfigSchema = z.object({
  BUSINESS_DATABASE_URL: configFields.postgresUrl(),
  KAFKA_BROKERS: configFields.brokers(),
  KAFKA_TOPIC_PREFIX: configFields.topicPrefix(),
  BUSINESS_PORT: configFields.port(3000),
  // Largest email accepted, as the bytes of its Kafka message; at most the broker's message.max.bytes.
  KAFKA_MAX_MESSAGE_BYTES: z.coerce.number().int().min(16_384).default(DEFAULT_MAX_MESSAGE_BYTES),
  // Retention (README "Retention"): the inbox must outlive what Kafka can still redeliver.
  INBOX_RETENTION_DAYS: configFields.retentionDays(14, TOPIC_MESSAGE_MAX_AGE_DAYS),
  EMAIL_RETENTION_DAYS: configFields.retentionDays(90, TOPIC_MESSAGE_MAX_AGE_DAYS),
  RETENTION_INTERVAL_MS: configFields.retentionIntervalMs(),
});

export type BusinessConfig = z.output<typeof businessConfigSchema>;

export function loadBusinessConfig(env: NodeJS.ProcessEnv = process.env): BusinessConfig {
  return loadConfig(businessConfigSchema, env, 'business');
}
