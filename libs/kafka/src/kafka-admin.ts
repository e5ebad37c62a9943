import { Inject, Injectable, Logger } from '@nestjs/common';
import { KafkaClient } from './kafka-client.js';
import { DEFAULT_TOPIC_PARTITIONS, KAFKA_OPTIONS, type KafkaModuleOptions } from './kafka.options.js';

/**
 * How many days after it was written a message can still be read, and so redelivered by a replay,
 * from a topic with the broker's default settings, as `ensureTopics` creates them: `retention.ms`
 * (7 days) plus `segment.ms` (7 days), because the broker deletes whole segments once their newest
 * message has expired. Rows that deduplicate consumed messages (an inbox, the mailer's requests)
 * must be kept at least this long, or a replay would apply a message a second time; with longer
 * topic retention, keep them longer accordingly.
 */
export const TOPIC_MESSAGE_MAX_AGE_DAYS = 14;

/** Creates the topics an app needs, if they do not exist yet (idempotent). */
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
      const missing = [...new Set(topics)].filter((t) => !existing.has(t));
      if (missing.length === 0) return;
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((topic) => ({
          topic,
          numPartitions: this.options.partitions ?? DEFAULT_TOPIC_PARTITIONS,
          replicationFactor: -1, // the broker's default
        })),
      });
      this.logger.log(`created topics ${missing.join(', ')}`);
    } finally {
      await admin.disconnect();
    }
  }
}
