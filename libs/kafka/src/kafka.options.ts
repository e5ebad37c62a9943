export interface KafkaModuleOptions {
  /** `host:port` of the bootstrap brokers. */
  brokers: string[];
  /** Client id reported to the broker (shows in broker logs and quotas). */
  clientId: string;
  /** Prepended to every logical topic and group name; lets tests and tenants share a broker. */
  topicPrefix?: string;
  /** Partitions for topics this app creates at start-up. */
  partitions?: number;
}

export const KAFKA_OPTIONS = Symbol('KAFKA_OPTIONS');
