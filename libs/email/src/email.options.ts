import type { KafkaModuleOptions } from '@app/kafka';
import type { OutboxRelayOptions } from '@app/outbox';

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
}

/** Below Kafka's default `message.max.bytes` (1,048,588), with room to spare. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_000_000;

export const EMAIL_OPTIONS = Symbol('EMAIL_OPTIONS');
