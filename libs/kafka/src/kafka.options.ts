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
}

/** The SASL mechanisms the apps configure; kafkajs's others (oauthbearer, aws) work too when a host passes them. */
export type KafkaSaslOptions = SASLOptions;

/**
 * Partitions of a topic the apps create: the most consumers of one group that can share it
 * (mailer instances × lane concurrency); more can be added later, but then a key's new messages
 * may land on another partition than its older ones.
 */
export const DEFAULT_TOPIC_PARTITIONS = 4;

export const KAFKA_OPTIONS = Symbol('KAFKA_OPTIONS');
