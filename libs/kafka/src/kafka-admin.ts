import { Inject, Injectable, Logger } from '@nestjs/common';
import { KafkaClient } from './kafka-client.js';
import type { Admin } from 'kafkajs';
import { DomainError } from '@app/common';
import { DEFAULT_TOPIC_PARTITIONS, KAFKA_OPTIONS, defaultMinInsyncReplicas, defaultReplicationFactor, type KafkaModuleOptions } from './kafka.options.js';

/** The replication settings topics are created with (see {@link KafkaModuleOptions.replicationFactor}). */
export interface TopicReplication {
  replicationFactor: number;
  minInsyncReplicas: number;
}

/** The configured replication does not fit the cluster: creating topics cannot succeed until it does. */
export class TopicReplicationError extends DomainError {
  readonly code = 'kafka.topic_replication';
  readonly retriable = true; // a broker that is down may come back
}

/**
 * How many days after it was written a message can still be read, and so redelivered by a replay,
 * from a topic with the broker's default settings, as `ensureTopics` creates them: `retention.ms`
 * (7 days) plus `segment.ms` (7 days), because the broker deletes whole segments once their newest
 * message has expired. Rows that deduplicate consumed messages (an inbox, the mailer's requests)
 * must be kept at least this long, or a replay would apply a message a second time; with longer
 * topic retention, keep them longer accordingly.
 */
export const TOPIC_MESSAGE_MAX_AGE_DAYS = 14;

/**
 * Creates the topics an app needs, if they do not exist yet (idempotent), with the configured
 * replication factor and `min.insync.replicas` (dead-letter topics too: a dead letter is the only
 * copy of a message that could not be handled). Existing topics are left as they are; one with
 * fewer replicas than configured is reported in the log.
 */
@Injectable()
export class KafkaTopicAdmin {
  private readonly logger = new Logger(KafkaTopicAdmin.name);

  constructor(
    private readonly client: KafkaClient,
    @Inject(KAFKA_OPTIONS) private readonly options: KafkaModuleOptions,
  ) {}

  async ensureTopics(topics: readonly string[]): Promise<void> {
    const admin = this.client.kafka.admin();
    await admin.connect();
    try {
      const existing = new Set(await admin.listTopics());
      const wanted = [...new Set(topics)];
      const missing = wanted.filter((t) => !existing.has(t));
      const replication = await this.replication(admin);
      if (missing.length > 0) {
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((topic) => ({
            topic,
            numPartitions: this.options.partitions ?? DEFAULT_TOPIC_PARTITIONS,
            replicationFactor: replication.replicationFactor,
            configEntries: [{ name: 'min.insync.replicas', value: String(replication.minInsyncReplicas) }],
          })),
        });
        if (replication.replicationFactor < 3) {
          this.logger.warn(`replication factor ${replication.replicationFactor}: losing a broker can lose acknowledged messages (production: 3 brokers)`);
        }
        this.logger.log(
          `created topics ${missing.join(', ')} (replication factor ${replication.replicationFactor}, min.insync.replicas ${replication.minInsyncReplicas})`,
        );
      }
      await this.reportUnderReplicated(admin, wanted.filter((t) => existing.has(t)), replication.replicationFactor);
    } finally {
      await admin.disconnect();
    }
  }

  /** The configured replication, checked against the live brokers, or the defaults for them. */
  private async replication(admin: Admin): Promise<TopicReplication> {
    const { brokers } = await admin.describeCluster();
    const replicationFactor = this.options.replicationFactor ?? defaultReplicationFactor(brokers.length);
    const minInsyncReplicas = this.options.minInsyncReplicas ?? defaultMinInsyncReplicas(replicationFactor);
    if (replicationFactor > brokers.length) {
      throw new TopicReplicationError(`replication factor ${replicationFactor} needs ${replicationFactor} live brokers; the cluster has ${brokers.length}`);
    }
    if (minInsyncReplicas > replicationFactor) {
      throw new TopicReplicationError(`min.insync.replicas ${minInsyncReplicas} is more than the replication factor ${replicationFactor}: no write could succeed`);
    }
    return { replicationFactor, minInsyncReplicas };
  }

  /** Logs existing topics with fewer replicas than configured: created before, or by someone else. */
  private async reportUnderReplicated(admin: Admin, topics: string[], replicationFactor: number): Promise<void> {
    if (topics.length === 0) return;
    const { topics: metadata } = await admin.fetchTopicMetadata({ topics });
    const short = metadata.filter((t) => t.partitions.some((p) => p.replicas.length < replicationFactor)).map((t) => t.name);
    if (short.length > 0) {
      this.logger.warn(`existing topics with fewer than ${replicationFactor} replicas (raise it with kafka-reassign-partitions): ${short.join(', ')}`);
    }
  }
}
