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
   * Copies of each partition of the topics this app creates (existing topics are left as they
   * are). Default: 3, or fewer when the cluster has fewer brokers ({@link defaultReplicationFactor}).
   * A value larger than the number of live brokers fails topic creation with a clear error.
   */
  replicationFactor?: number;
  /**
   * `min.insync.replicas` of the topics this app creates: how many copies must have a record
   * before an `acks=all` write succeeds. Default {@link defaultMinInsyncReplicas}; at most
   * `replicationFactor`.
   */
  minInsyncReplicas?: number;
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

/**
 * Replication factor when none is configured: 3 (one broker can fail, and a second one can be
 * down for maintenance, without losing an acknowledged record), capped at the brokers the
 * cluster has, so a single development broker needs no setting.
 */
export function defaultReplicationFactor(brokers: number): number {
  return Math.max(1, Math.min(3, brokers));
}

/**
 * `min.insync.replicas` when none is configured: 2 with 3 or more copies, so an acknowledged
 * record is on two brokers and survives the loss of any one, while one broker may be down and
 * writes go on; 1 below that (with 2 copies, 2 in sync would stop every write when one is down).
 */
export function defaultMinInsyncReplicas(replicationFactor: number): number {
  return replicationFactor >= 3 ? 2 : 1;
}

export const KAFKA_OPTIONS = Symbol('KAFKA_OPTIONS');
