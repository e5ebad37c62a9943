import { Inject, Injectable, Logger } from '@nestjs/common';
import kafkajs, { type Admin } from 'kafkajs';
import { deadLetterTopic } from '@app/contracts';
import { KafkaClient } from './kafka-client.js';
import { DomainError } from '@app/common';
import {
  DEAD_LETTER_HEADROOM_BYTES,
  DEFAULT_DEAD_LETTER_RETENTION_MS,
  DEFAULT_TOPIC_PARTITIONS,
  KAFKA_OPTIONS,
  defaultMinInsyncReplicas,
  defaultReplicationFactor,
  type KafkaModuleOptions,
} from './kafka.options.js';

// kafkajs is CommonJS: Node's ESM loader does not see this enum as a named export.
const { ConfigResourceTypes } = kafkajs;

/** A topic-level setting (`DYNAMIC_TOPIC_CONFIG` in the broker's config sources): one set on the topic, not inherited. */
const TOPIC_CONFIG_SOURCE = 1;
/** A dead-letter topic rolls a segment at least daily, so a message is deleted within a day of its retention, not a week. */
const DEAD_LETTER_SEGMENT_MS = 86_400_000;

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

  /**
   * Creates the dead-letter topic of each source topic (which must exist), or brings an existing
   * one's settings up to date: `max.message.bytes` = the source topic's (its own or the broker's
   * default) + {@link DEAD_LETTER_HEADROOM_BYTES}, so that any message the source accepted can
   * be dead-lettered with its reason headers; `retention.ms` = the configured dead-letter
   * retention; `segment.ms` at most a day, so messages expire close to that retention. Other
   * settings of an existing topic (set by an operator) are kept.
   */
  async ensureDeadLetterTopics(sourceTopics: readonly string[]): Promise<void> {
    const sources = [...new Set(sourceTopics)];
    if (sources.length === 0) return;
    const admin = this.client.kafka.admin();
    await admin.connect();
    try {
      const sourceLimits = await topicConfigs(admin, sources);
      const retentionMs = this.options.deadLetterRetentionMs ?? DEFAULT_DEAD_LETTER_RETENTION_MS;
      const wanted = new Map(
        sources.map((source) => {
          const limit = Number(sourceLimits.get(source)?.get('max.message.bytes')?.value);
          if (!Number.isSafeInteger(limit)) throw new Error(`${source}: the broker did not report its max.message.bytes`);
          return [
            deadLetterTopic(source),
            {
              'max.message.bytes': String(limit + DEAD_LETTER_HEADROOM_BYTES),
              'retention.ms': String(retentionMs),
              'segment.ms': String(Math.min(retentionMs, DEAD_LETTER_SEGMENT_MS)),
            },
          ] as const;
        }),
      );
      const existing = new Set(await admin.listTopics());
      const missing = [...wanted.keys()].filter((t) => !existing.has(t));
      if (missing.length > 0) {
        const replication = await this.replication(admin);
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((topic) => ({
            topic,
            numPartitions: this.options.partitions ?? DEFAULT_TOPIC_PARTITIONS,
            replicationFactor: replication.replicationFactor,
            configEntries: [
              { name: 'min.insync.replicas', value: String(replication.minInsyncReplicas) },
              ...Object.entries(wanted.get(topic)!).map(([name, value]) => ({ name, value })),
            ],
          })),
        });
        this.logger.log(`created dead-letter topics ${missing.join(', ')}`);
      }
      const present = [...wanted.keys()].filter((t) => existing.has(t));
      if (present.length === 0) return;
      const current = await topicConfigs(admin, present);
      for (const topic of present) {
        const configs = current.get(topic) ?? new Map();
        const settings = wanted.get(topic)!;
        if (Object.entries(settings).every(([name, value]) => configs.get(name)?.value === value)) continue;
        // AlterConfigs replaces the topic's whole set of settings: send the ones set on it, with ours.
        const kept = [...configs].filter(([name, c]) => c.source === TOPIC_CONFIG_SOURCE && !(name in settings)).map(([name, c]) => ({ name, value: c.value }));
        await admin.alterConfigs({
          validateOnly: false,
          resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [...kept, ...Object.entries(settings).map(([name, value]) => ({ name, value }))] }],
        });
        this.logger.log(`updated the settings of ${topic}: ${Object.entries(settings).map(([n, v]) => `${n}=${v}`).join(', ')}`);
      }
    } finally {
      await admin.disconnect();
    }
  }
}

/** Each topic's settings as the broker reports them (effective values, with where each comes from). */
async function topicConfigs(admin: Admin, topics: readonly string[]): Promise<Map<string, Map<string, { value: string; source: number }>>> {
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
  });
  return new Map(
    resources.map((r) => [
      r.resourceName,
      new Map(r.configEntries.map((e) => [e.configName, { value: e.configValue, source: e.configSource }])),
    ]),
  );
}
