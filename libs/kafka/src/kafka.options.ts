export interface KafkaModuleOptions {
  /** `host:port` of the bootstrap brokers. */
  brokers: string[];
  /** Client id reported to the broker (shows in broker logs and quotas). */
  clientId: string;
  /** Prepended to every logical topic and group name; lets tests and tenants share a broker. */
  topicPrefix?: string;
  /** Partitions for topics this app creates at start-up. Default {@link DEFAULT_TOPIC_PARTITIONS}. */
  partitions?: number;
}

/**
 * Partitions of a topic the apps create: the most consumers of one group that can share it
 * (mailer instances × lane concurrency); more can be added later, but then a key's new messages
 * may land on another partition than its older ones.
 */
export const DEFAULT_TOPIC_PARTITIONS = 4;

export const KAFKA_OPTIONS = Symbol('KAFKA_OPTIONS');
