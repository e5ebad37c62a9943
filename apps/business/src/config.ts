import { z } from 'zod';
import { bootstrapApiKeysSchema } from '@app/auth';
import { SQL_SCHEMA_PATTERN, checkTopicReplication, configFields, fileContents, loadConfig, resolveKafkaSecurity, withoutKafkaSecuritySettings } from '@app/common';
import { senderDomainListSchema } from '@app/contracts';
import { DEFAULT_MAX_ATTACHMENT_BYTES, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_TEMPLATE_RENDER_TIMEOUT_MS, MIN_UNSUBSCRIBE_SECRET_LENGTH } from '@app/email';
import { TOPIC_MESSAGE_MAX_AGE_DAYS } from '@app/kafka';
import { WEBHOOK_RETRY_JITTER, parseAllowedNetworks, parseRetrySchedule, parseWebhookSecretsKey } from '@app/webhooks';

/** A value that `parse` turns into something else or refuses by throwing; the error's message is the issue. */
const parsedBy = <T>(parse: (value: string | undefined) => T) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      try {
        return parse(value);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: error instanceof Error ? error.message : String(error) });
        return z.NEVER;
      }
    });

const businessConfigSchema = z.object({
  BUSINESS_DATABASE_URL: configFields.postgresUrl(),
  KAFKA_BROKERS: configFields.brokers(),
  KAFKA_TOPIC_PREFIX: configFields.topicPrefix(),
  KAFKA_TOPIC_PARTITIONS: configFields.topicPartitions(),
  ...configFields.topicReplication,
  OUTBOX_POLL_INTERVAL_MS: configFields.outboxPollIntervalMs(),
  ...configFields.kafkaSecurity(),
  BUSINESS_PORT: configFields.port(3000),
  BUSINESS_HOST: configFields.host(),
  // The public listener (docs/security/edge.md): only PUBLIC_ROUTES (the unsubscribe endpoints),
  // on a port of its own that may face the internet while BUSINESS_PORT stays private. Unset: none.
  PUBLIC_PORT: z.coerce.number().int().min(1).max(65_535).optional(),
  PUBLIC_HOST: configFields.host(),
  CORS_ORIGINS: configFields.corsOrigins(),
  // API keys from configuration (docs: Security): comma-separated, each ≥ 24 characters, every
  // scope; held as hashes only. Unset: only keys created with `npm run keys` (none: every /v1 call is 401).
  BUSINESS_API_KEYS: bootstrapApiKeysSchema(),
  // Requests per API key across every instance (counted in Redis).
  API_RATE_LIMIT: configFields.rate('50/s'),
  // Schema of the email module's tables. `public`: where versions before the package created them,
  // so an upgraded deployment keeps its emails, outbox and inbox (a new one may choose e.g. email_loop).
  EMAIL_SCHEMA: z.string().regex(SQL_SCHEMA_PATTERN, 'must be a lower-case identifier of at most 47 characters').default('public'),
  // Largest email accepted, as the bytes of its Kafka message; at most the broker's message.max.bytes.
  KAFKA_MAX_MESSAGE_BYTES: z.coerce.number().int().min(16_384).default(DEFAULT_MAX_MESSAGE_BYTES),
  // Domains a request's `from` may use (comma-separated); unset: no `from`, the mailer's MAIL_FROM only.
  MAIL_SENDER_DOMAINS: senderDomainListSchema,
  // Largest total of a request's attachments, in decoded bytes (KAFKA_MAX_MESSAGE_BYTES still applies).
  MAIL_MAX_ATTACHMENT_BYTES: z.coerce.number().int().min(0).default(DEFAULT_MAX_ATTACHMENT_BYTES),
  // How far ahead `sendAt` may be (README "Scheduled sending and cancel").
  SEND_AT_MAX_AHEAD_DAYS: z.coerce.number().int().min(1).max(365).default(30),
  // Template rendering runs in worker threads (docs/security/inputs.md): the deadline of one render,
  // the threads, and each worker's heap. A render past a limit is a 400 `template_render_limit`.
  TEMPLATE_RENDER_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(DEFAULT_TEMPLATE_RENDER_TIMEOUT_MS),
  TEMPLATE_RENDER_THREADS: z.coerce.number().int().min(1).max(16).default(1),
  TEMPLATE_RENDER_MAX_MEMORY_MB: z.coerce.number().int().min(16).max(4096).default(128),
  // Retention (README "Retention"): the inbox must outlive what Kafka can still redeliver.
  INBOX_RETENTION_DAYS: configFields.retentionDays(14, TOPIC_MESSAGE_MAX_AGE_DAYS),
  EMAIL_RETENTION_DAYS: configFields.retentionDays(90, TOPIC_MESSAGE_MAX_AGE_DAYS),
  RETENTION_INTERVAL_MS: configFields.retentionIntervalMs(),
  // Webhooks (README "Webhooks"). Redis holds their timers only; PostgreSQL holds the deliveries.
  REDIS_URL: configFields.redisUrl(),
  // PEM of a private CA that signed the Redis server's certificate (with a rediss:// REDIS_URL).
  REDIS_TLS_CA_FILE: fileContents().optional(),
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9._-]+$/).default('email-loop'),
  WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(500).default(20),
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(30_000).default(5_000),
  WEBHOOK_RETRY_SCHEDULE_MS: parsedBy(parseRetrySchedule),
  WEBHOOK_ALLOWED_NETWORKS: parsedBy(parseAllowedNetworks),
  WEBHOOK_SECRET_ROTATION_GRACE_MS: z.coerce.number().int().min(0).max(30 * 86_400_000).default(86_400_000),
  // Five days: longer than the default retry schedule (about a day), so a day-long outage is retried in full.
  WEBHOOK_DISABLE_AFTER_MS: z.coerce.number().int().min(1_000).default(5 * 86_400_000),
  WEBHOOK_RETENTION_DAYS: configFields.retentionDays(30, 1),
  WEBHOOK_SWEEP_INTERVAL_MS: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
  // Endpoints one API key may own, and endpoints in all: each costs a delivery row per event.
  WEBHOOK_MAX_ENDPOINTS_PER_KEY: z.coerce.number().int().min(1).max(10_000).default(25),
  WEBHOOK_MAX_ENDPOINTS: z.coerce.number().int().min(1).max(100_000).default(1_000),
  // Key of the signing secrets at rest (AES-256-GCM), 32 bytes as hex or base64. Required in every
  // environment (the dev script and the test stack set one): there is no mode that stores them in clear.
  WEBHOOK_SECRETS_KEY: z.string({ message: 'is required: 32 bytes as hex or base64 (e.g. `openssl rand -base64 32`)' }).transform((value, ctx) => {
    try {
      return parseWebhookSecretsKey(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  }),
  // Keys used before a rotation, comma-separated: they decrypt older rows until start-up re-encrypts them.
  WEBHOOK_SECRETS_PREVIOUS_KEYS: z
    .string()
    .optional()
    .transform((value, ctx) => {
      const keys: Buffer[] = [];
      for (const [i, text] of (value ?? '').split(',').map((v) => v.trim()).filter(Boolean).entries()) {
        try {
          keys.push(parseWebhookSecretsKey(text));
        } catch (error) {
          ctx.addIssue({ code: 'custom', message: `entry ${i + 1} ${(error as Error).message}` });
        }
      }
      return keys;
    }),
  // One-click unsubscribe of bulk mail (README "Sending platform"): both or neither. The base URL is
  // where mailbox providers reach this app from the internet; links are <base>/v1/unsubscribe/<token>.
  UNSUBSCRIBE_BASE_URL: z
    .url({ protocol: /^https?$/, message: 'must be an http(s) URL' })
    .max(900)
    .regex(/^[^\s<>"?#]+$/, 'must not contain whitespace, <, >, ", ? or #')
    .transform((url) => url.replace(/\/+$/, ''))
    .optional(),
  UNSUBSCRIBE_SECRET: z.string().min(MIN_UNSUBSCRIBE_SECRET_LENGTH, `must be at least ${MIN_UNSUBSCRIBE_SECRET_LENGTH} characters`).optional(),
  // Secrets used before a rotation, comma-separated: links signed with them keep working.
  UNSUBSCRIBE_PREVIOUS_SECRETS: z
    .string()
    .optional()
    .transform((s) => (s ?? '').split(',').map((v) => v.trim()).filter(Boolean))
    .pipe(z.array(z.string().min(MIN_UNSUBSCRIBE_SECRET_LENGTH, `each must be at least ${MIN_UNSUBSCRIBE_SECRET_LENGTH} characters`))),
}).superRefine((c, ctx) => {
  checkTopicReplication(c, ctx);
  if (c.PUBLIC_PORT !== undefined && c.PUBLIC_PORT === c.BUSINESS_PORT) {
    ctx.addIssue({ code: 'custom', path: ['PUBLIC_PORT'], message: 'must differ from BUSINESS_PORT (the public port serves only the public routes)' });
    }
  if (c.WEBHOOK_MAX_ENDPOINTS_PER_KEY > c.WEBHOOK_MAX_ENDPOINTS) {
    ctx.addIssue({ code: 'custom', path: ['WEBHOOK_MAX_ENDPOINTS_PER_KEY'], message: 'must not exceed WEBHOOK_MAX_ENDPOINTS' });
  }
  if ((c.UNSUBSCRIBE_BASE_URL === undefined) !== (c.UNSUBSCRIBE_SECRET === undefined)) {
    const missing = c.UNSUBSCRIBE_BASE_URL === undefined ? 'UNSUBSCRIBE_BASE_URL' : 'UNSUBSCRIBE_SECRET';
    ctx.addIssue({ code: 'custom', path: [missing], message: 'required with the other UNSUBSCRIBE_ variable (unsubscribe links need both)' });
  }
  // The longest a delivery's retries can take, jitter included.
  const span = Math.ceil(c.WEBHOOK_RETRY_SCHEDULE_MS.reduce((sum, ms) => sum + ms, 0) * (1 + WEBHOOK_RETRY_JITTER));
  if (c.WEBHOOK_DISABLE_AFTER_MS <= span) {
    ctx.addIssue({
      code: 'custom',
      path: ['WEBHOOK_DISABLE_AFTER_MS'],
      message: `must exceed the retry schedule's span (${span} ms), or an endpoint is disabled before a delivery was retried in full`,
    });
  }
  if (c.REDIS_TLS_CA_FILE !== undefined && !c.REDIS_URL.startsWith('rediss:')) {
    ctx.addIssue({ code: 'custom', path: ['REDIS_TLS_CA_FILE'], message: 'requires a rediss:// REDIS_URL' });
  }
}).transform((c, ctx) => {
  const kafka = resolveKafkaSecurity(c);
  for (const issue of kafka.issues) ctx.addIssue({ code: 'custom', path: [issue.path], message: issue.message });
  if (kafka.issues.length > 0) return z.NEVER;
  const { REDIS_TLS_CA_FILE, ...rest } = withoutKafkaSecuritySettings(c);
  // kafkajs's `ssl` and `sasl` options (the KAFKA_SSL* and KAFKA_SASL_* variables, checked together).
  return { ...rest, KAFKA_SECURITY: kafka.security, REDIS_TLS_CA: REDIS_TLS_CA_FILE };
});

export type BusinessConfig = z.output<typeof businessConfigSchema>;

export function loadBusinessConfig(env: NodeJS.ProcessEnv = process.env): BusinessConfig {
  return loadConfig(businessConfigSchema, env, 'business');
}
