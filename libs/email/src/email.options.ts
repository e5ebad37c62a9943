import { z } from 'zod';
import { SQL_SCHEMA_PATTERN, toFieldErrors } from '@app/common';
import { senderDomainSchema } from '@app/contracts';
import type { ConnectionOptions } from 'node:tls';
import { TOPIC_MESSAGE_MAX_AGE_DAYS, type KafkaSaslOptions } from '@app/kafka';
import type { OutboxRelayOptions } from '@app/outbox';
import { daysToMs } from '@app/retention';
import { MIN_UNSUBSCRIBE_SECRET_LENGTH } from './unsubscribe/unsubscribe-tokens.js';

/**
 * How long the module keeps its rows (`EmailRetentionService`). An age of 0 keeps a table forever;
 * any other age must be at least `TOPIC_MESSAGE_MAX_AGE_DAYS` (14 days), as long as Kafka can
 * still redeliver a message with default topic settings.
 */
export interface EmailRetentionOptions {
  /**
   * Emails in a final status (`sent`, `failed`, `expired`) are deleted, with their event history,
   * this long after their last change. After that `get()` no longer finds them and their
   * idempotency key is free again: a request with the same key creates (and sends) a new email.
   * Emails still in progress or held as `unknown` are never deleted. Default 90 days.
   */
  emailsMs: number;
  /**
   * Records of applied status events (`inbox`) are deleted this long after they were applied.
   * They are what makes a redelivered event a no-op, so they must outlive the event topic's
   * retention (longer if your broker keeps messages longer than its defaults). Default 14 days.
   */
  inboxMs: number;
  /** Time between two pruning passes. Default 1 hour. */
  intervalMs: number;
  /** Rows per delete statement. Default 1,000. */
  batchSize: number;
}

/** How the module reaches Kafka. */
export interface EmailKafkaOptions {
  /** `host:port` of the bootstrap brokers. */
  brokers: string[];
  /** Client id reported to the broker. Default: `appName`. */
  clientId?: string;
  /**
   * Prepended to every topic and consumer group name. Default: `` `${appName}.` ``.
   *
   * One mailer deployment serves one topic prefix (its `KAFKA_TOPIC_PREFIX`): set the mailer's
   * prefix to this value, and give two apps that share a mailer the same explicit prefix.
   */
  topicPrefix?: string;
  /** Partitions for the topics the module creates at start-up. */
  partitions?: number;
  /**
   * Copies of each partition of the topics the module creates. Default: 3, capped at the live
   * brokers (a single development broker: 1). More than the live brokers fails at start-up.
   */
  replicationFactor?: number;
  /** `min.insync.replicas` of the topics the module creates. Default: 2 with 3 or more copies, else 1. */
  minInsyncReplicas?: number;
  /**
   * TLS to the brokers: `true` (the system's CAs) or Node's TLS options (`ca` for a private CA,
   * `cert`/`key` for mTLS, `rejectUnauthorized`). Absent: plaintext. Passed to kafkajs as is.
   */
  ssl?: boolean | ConnectionOptions;
  /**
   * SASL authentication: `{ mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512', username, password }`.
   * `plain` sends the password as is: use it over TLS only. Absent: none.
   */
  sasl?: KafkaSaslOptions;
}

/**
 * One-click unsubscribe (RFC 8058) for bulk mail: with these options every `bulk`-lane email
 * carries a signed link, which the mailer puts in `List-Unsubscribe` with
 * `List-Unsubscribe-Post: List-Unsubscribe=One-Click`. The host serves the link: a `POST` to it
 * calls `EmailUnsubscribes.unsubscribe(token)` (the business app's `/v1/unsubscribe/:token`).
 */
export interface EmailUnsubscribeOptions {
  /**
   * The link is this prefix followed by the token, e.g. `https://api.example.com/v1/unsubscribe/`
   * (http or https, ending with `/`). It must reach the host's unsubscribe endpoint from the
   * internet: mailbox providers post to it.
   */
  urlPrefix: string;
  /** Signs the links (HMAC-SHA256), at least 32 characters. Keep it secret: it is what makes a link unforgeable. */
  secret: string;
  /** Earlier secrets, still accepted when a link is used, so that a rotation keeps the links already sent working. */
  previousSecrets?: string[];
}

/** Limits of template rendering (`EmailModule.forRoot({ templateRendering })`). */
export interface TemplateRenderingOptions {
  /** Longest a compile or render may run once a worker has started it, in ms; then the worker is killed. Default 2000. */
  timeoutMs?: number;
  /** Worker threads rendering templates. Default 1. */
  threads?: number;
  /** Heap limit of each worker (old generation), in MB: an allocation bomb kills the worker, not the app. Default 128. */
  maxMemoryMb?: number;
}

/**
 * Options of `EmailModule.forRoot()` (or the result of `forRootAsync()`'s factory), validated at
 * start-up: an invalid value stops the app with every bad field listed.
 */
export interface EmailModuleOptions {
  /**
   * Names this application on the broker, e.g. `orders` (lower-case letters, digits, `-`):
   * the status events are consumed by the group `` `${topicPrefix}${appName}.email-events` ``, and the
   * topic prefix defaults to `` `${appName}.` ``. Keep it stable: a new name is a new consumer group.
   */
  appName: string;
  /** PostgreSQL connection string of the database the app's TypeORM `DataSource` uses. */
  databaseUrl: string;
  /**
   * PostgreSQL schema of the module's tables (`emails`, `email_events`, `outbox`, `inbox`);
   * run `emailMigrations(schema)` with the same value. Default {@link DEFAULT_EMAIL_SCHEMA}.
   */
  schema?: string;
  kafka: EmailKafkaOptions;
  /** Run the outbox relay in this instance (default true). */
  runRelay?: boolean;
  /** Consume status events in this instance (default true). */
  consumeEvents?: boolean;
  /** Partitions of `mail.events` applied in parallel by one instance. */
  eventConcurrency?: number;
  /**
   * Most status events of one partition applied in one transaction (default 100). Larger batches
   * mean fewer round trips per event, and longer row locks on the batch's emails.
   */
  eventBatchSize?: number;
  /** Tuning of the relay that publishes the module's outbox (batch size, lease, retries, retention). */
  relay?: Partial<OutboxRelayOptions>;
  /**
   * Largest Kafka message `send()` accepts, in bytes as the broker counts them: the request's
   * UTF-8 JSON plus an allowance for key, headers and record framing (see `kafkaRecordSize`).
   * A larger email is refused with `EmailTooLargeError` before anything is written. Keep it at or
   * below the broker's `message.max.bytes` (and the request topics' `max.message.bytes`).
   * Default {@link DEFAULT_MAX_MESSAGE_BYTES}.
   */
  maxMessageBytes?: number;
  /**
   * Domains a request's `from` may use (e.g. `['shop.example']`, matched exactly, case-insensitive);
   * `from` in any other domain is refused (`InvalidInputError`, HTTP 400). Default none: requests
   * may not set `from` and go out from the mailer's `MAIL_FROM`. Set the mailer's
   * `MAIL_SENDER_DOMAINS` to match: it refuses again what it would not send.
   */
  senderDomains?: string[];
  /**
   * Largest total size of a request's attachments, in decoded bytes; more is refused
   * (`InvalidInputError`). Base64 makes them a third larger in the Kafka message, which
   * `maxMessageBytes` limits as well. Default `DEFAULT_MAX_ATTACHMENT_BYTES` (512 KiB).
   */
  maxAttachmentBytes?: number;
  /**
   * How far ahead a `sendAt` may be, in ms; a later one is refused (`InvalidInputError` on
   * `sendAt`). Default {@link DEFAULT_MAX_SCHEDULE_AHEAD_MS} (30 days).
   */
  maxScheduleAheadMs?: number;
  retention?: Partial<EmailRetentionOptions>;
  /**
   * Limits of template rendering, which runs in worker threads: the deadline of one render
   * (`timeoutMs`, default 2000), the number of threads (default 1) and each worker's heap
   * (`maxMemoryMb`, default 128). A render past a limit fails with `TemplateRenderLimitError` (400).
   */
  templateRendering?: TemplateRenderingOptions;
  /** Signed one-click unsubscribe links on bulk mail. Without it, bulk mail carries no `List-Unsubscribe`. */
  unsubscribe?: EmailUnsubscribeOptions;
}

/** The options with their defaults filled in: what the module's providers receive. */
export interface ResolvedEmailModuleOptions extends EmailModuleOptions {
  schema: string;
  kafka: EmailKafkaOptions & { clientId: string; topicPrefix: string };
}

/** Where the module's tables live unless `schema` says otherwise. */
export const DEFAULT_EMAIL_SCHEMA = 'email_loop';

const positiveInt = z.number().int().positive();
const emailModuleOptionsSchema = z.object({
  appName: z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, 'lower-case letters, digits and - only, starting with a letter'),
  databaseUrl: z.url({ protocol: /^postgres(ql)?$/, message: 'must be a postgres:// URL' }),
  schema: z.string().regex(SQL_SCHEMA_PATTERN, 'lower-case letters, digits and _ only, at most 63').optional(),
  kafka: z.object({
    brokers: z.array(z.string().regex(/^[^:\s]+:\d{1,5}$/, 'must be host:port')).min(1),
    clientId: z.string().min(1).optional(),
    topicPrefix: z.string().regex(/^[A-Za-z0-9._-]*$/, 'letters, digits, . _ - only').optional(),
    partitions: positiveInt.optional(),
    replicationFactor: positiveInt.optional(),
    minInsyncReplicas: positiveInt.optional(),
    ssl: z.union([z.boolean(), z.looseObject({ rejectUnauthorized: z.boolean().optional() })]).optional(),
    // Checked here for the three mechanisms the apps use; kafkajs's others pass through as given.
    sasl: z
      .looseObject({ mechanism: z.string().min(1) })
      .superRefine((sasl, ctx) => {
        if (!['plain', 'scram-sha-256', 'scram-sha-512'].includes(sasl.mechanism)) return;
        for (const key of ['username', 'password']) {
          const value = (sasl as Record<string, unknown>)[key];
          if (typeof value !== 'string' || value.length === 0) ctx.addIssue({ code: 'custom', path: [key], message: `required with mechanism ${sasl.mechanism}` });
        }
      })
      .optional(),
  }),
  runRelay: z.boolean().optional(),
  consumeEvents: z.boolean().optional(),
  eventConcurrency: positiveInt.optional(),
  eventBatchSize: positiveInt.optional(),
  relay: z.record(z.string(), z.number()).optional(),
  maxMessageBytes: positiveInt.optional(),
  senderDomains: z.array(senderDomainSchema).optional(),
  maxAttachmentBytes: z.number().int().min(0).optional(),
  maxScheduleAheadMs: positiveInt.optional(),
  retention: z.record(z.string(), z.number()).optional(),
  templateRendering: z
    .strictObject({ timeoutMs: positiveInt.max(60_000).optional(), threads: positiveInt.max(16).optional(), maxMemoryMb: z.number().int().min(16).max(4096).optional() })
    .optional(),
  unsubscribe: z
    .strictObject({
      urlPrefix: z
        .url({ protocol: /^https?$/, message: 'must be an http(s) URL' })
        .max(1000)
        .regex(/^[^\s<>"]+\/$/, 'must end with / and contain no whitespace, <, > or "'),
      secret: z.string().min(MIN_UNSUBSCRIBE_SECRET_LENGTH, `at least ${MIN_UNSUBSCRIBE_SECRET_LENGTH} characters`),
      previousSecrets: z.array(z.string().min(MIN_UNSUBSCRIBE_SECRET_LENGTH, `at least ${MIN_UNSUBSCRIBE_SECRET_LENGTH} characters`)).optional(),
    })
    .optional(),
});

/**
 * Validates the options and fills in the derived defaults (`schema`, `kafka.clientId`,
 * `kafka.topicPrefix`); throws one error listing every bad field.
 */
export function resolveEmailModuleOptions(options: EmailModuleOptions): ResolvedEmailModuleOptions {
  const result = emailModuleOptionsSchema.safeParse(options);
  if (!result.success) {
    const lines = toFieldErrors(result.error.issues).map((e) => `  ${e.path}: ${e.message}`);
    throw new Error(`EmailModule: invalid options\n${lines.join('\n')}`);
  }
  const { appName, kafka } = options;
  if (options.retention) resolveEmailRetentionOptions(options.retention);
  return {
    ...options,
    schema: options.schema ?? DEFAULT_EMAIL_SCHEMA,
    kafka: { ...kafka, clientId: kafka.clientId ?? appName, topicPrefix: kafka.topicPrefix ?? `${appName}.` },
  };
}

/** How far ahead `sendAt` may be unless `maxScheduleAheadMs` says otherwise: 30 days. */
export const DEFAULT_MAX_SCHEDULE_AHEAD_MS = 30 * 86_400_000;

/**
 * How far in the past a `sendAt` may be and still be accepted (then sent at once): a client's
 * clock may lag ours, and "now" computed on its side is in our past by the time it arrives.
 */
export const SEND_AT_PAST_TOLERANCE_MS = 60_000;

/** Below Kafka's default `message.max.bytes` (1,048,588), with room to spare. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_000_000;

export const EMAIL_OPTIONS = Symbol('EMAIL_OPTIONS');

export const DEFAULT_EMAIL_RETENTION: EmailRetentionOptions = {
  emailsMs: daysToMs(90),
  inboxMs: daysToMs(14),
  intervalMs: 3_600_000,
  batchSize: 1_000,
};

/** Fills in defaults and refuses an age that would let a redelivered message be applied twice. */
export function resolveEmailRetentionOptions(overrides: Partial<EmailRetentionOptions> = {}): EmailRetentionOptions {
  const options = { ...DEFAULT_EMAIL_RETENTION, ...overrides };
  for (const name of ['intervalMs', 'batchSize'] as const) {
    if (!Number.isFinite(options[name]) || options[name] <= 0) {
      throw new Error(`email retention option ${name} must be a positive number, got ${options[name]}`);
    }
  }
  const floorMs = daysToMs(TOPIC_MESSAGE_MAX_AGE_DAYS);
  for (const name of ['emailsMs', 'inboxMs'] as const) {
    const value = options[name];
    if (!Number.isFinite(value) || value < 0 || (value > 0 && value < floorMs)) {
      throw new Error(
        `email retention option ${name} must be 0 (keep forever) or at least ${TOPIC_MESSAGE_MAX_AGE_DAYS} days (${floorMs} ms), got ${value}`,
      );
    }
  }
  return options;
}
