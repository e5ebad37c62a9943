import { TOPIC_MESSAGE_MAX_AGE_DAYS, type KafkaModuleOptions } from '@app/kafka';
import type { OutboxRelayOptions } from '@app/outbox';
import { daysToMs } from '@app/retention';

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

export interface EmailModuleOptions {
  /** PostgreSQL connection string of the database the app's TypeORM `DataSource` uses. */
  databaseUrl: string;
  kafka: KafkaModuleOptions;
  /** Run the outbox relay in this instance (default true). */
  runRelay?: boolean;
  /** Consume status events in this instance (default true). */
  consumeEvents?: boolean;
  /** Partitions of `mail.events` applied in parallel by one instance. */
  eventConcurrency?: number;
  relay?: Partial<OutboxRelayOptions>;
  /**
   * Largest Kafka message `send()` accepts, in bytes as the broker counts them: the request's
   * UTF-8 JSON plus an allowance for key, headers and record framing (see `kafkaRecordSize`).
   * A larger email is refused with `EmailTooLargeError` before anything is written. Keep it at or
   * below the broker's `message.max.bytes` (and the request topics' `max.message.bytes`).
   * Default {@link DEFAULT_MAX_MESSAGE_BYTES}.
   */
  maxMessageBytes?: number;
  retention?: Partial<EmailRetentionOptions>;
}

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
