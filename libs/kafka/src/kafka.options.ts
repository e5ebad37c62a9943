import type { SASLOptions } from 'kafkajs';
import type { ConnectionOptions } from 'node:tls';

export interface KafkaModuleOptions {
  /** `host:port` of the bootstrap brokers. */
  brokers: string[];
  /** Client id reported to the broker (shows in broker logs and quotas). */
  clientId: string;
  /** Prepended to every logical topic and group name; lets tests and tenants share a broker. */
  topicPrefix?: string;
  /** Partitions for topics this app creates at start-up. Default {@link DEFAULT_TOPIC_PARTITIONS}. */
  partitions?: number;
  /**
   * TLS to the brokers: `true` (the system's CAs) or Node's TLS options (`ca` for a private CA,
   * `cert`/`key` for mTLS, `rejectUnauthorized`). Absent: plaintext.
   */
  ssl?: boolean | ConnectionOptions;
  /**
   * SASL authentication, e.g. `{ mechanism: 'scram-sha-512', username, password }` (`plain` sends
   * the password as is: use it over TLS only). Absent: none.
   */
  sasl?: KafkaSaslOptions;
  /** How long a dead-letter topic keeps a message (`retention.ms`). Default {@link DEFAULT_DEAD_LETTER_RETENTION_MS} (14 days). */
  deadLetterRetentionMs?: number;
}

/** 14 days: twice the broker's default retention, so a dead letter outlives a week's holiday and a slow upgrade. */
export const DEFAULT_DEAD_LETTER_RETENTION_MS = 14 * 86_400_000;

/**
 * What a dead-letter topic accepts beyond its source topic's `max.message.bytes`: the reason,
 * code and source headers added to a message that may itself be at its source's limit (the
 * reason is cut at 4,000 characters, at most 16 KB of UTF-8; the rest is under 1 KB), with room.
 */
export const DEAD_LETTER_HEADROOM_BYTES = 64 * 1024;

/** The SASL mechanisms the apps configure; kafkajs's others (oauthbearer, aws) work too when a host passes them. */
export type KafkaSaslOptions = SASLOptions;

/**
 * Partitions of a topic the apps create: the most consumers of one group that can share it
 * (mailer instances × lane concurrency); more can be added later, but then a key's new messages
 * may land on another partition than its older ones.
 */
export const DEFAULT_TOPIC_PARTITIONS = 4;

export const KAFKA_OPTIONS = Symbol('KAFKA_OPTIONS');
