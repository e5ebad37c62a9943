import { z } from 'zod';
import { configFields, loadConfig } from '@app/common';

const businessConfigSchema = z.object({
  BUSINESS_DATABASE_URL: configFields.postgresUrl(),
  KAFKA_BROKERS: configFields.brokers(),
  KAFKA_TOPIC_PREFIX: configFields.topicPrefix(),
  BUSINESS_PORT: configFields.port(3000),
});

export type BusinessConfig = z.output<typeof businessConfigSchema>;

export function loadBusinessConfig(env: NodeJS.ProcessEnv = process.env): BusinessConfig {
  return loadConfig(businessConfigSchema, env, 'business');
}
