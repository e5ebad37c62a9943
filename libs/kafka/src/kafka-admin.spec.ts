import { describe, expect, it } from 'vitest';
import type { ITopicConfig } from 'kafkajs';
import { KafkaTopicAdmin } from './kafka-admin.js';
import type { KafkaClient } from './kafka-client.js';
import { DEFAULT_TOPIC_PARTITIONS } from './kafka.options.js';

/** A client whose admin reports `existing` topics and records what it is asked to create. */
function fakeClient(existing: string[]): { client: KafkaClient; created: ITopicConfig[] } {
  const created: ITopicConfig[] = [];
  const admin = {
    connect: async () => undefined,
    disconnect: async () => undefined,
    listTopics: async () => existing,
    createTopics: async ({ topics }: { topics: ITopicConfig[] }) => (created.push(...topics), true),
  };
  return { client: { kafka: { admin: () => admin } } as unknown as KafkaClient, created };
}

describe('KafkaTopicAdmin.ensureTopics', () => {
  it('creates the missing topics with the configured partitions', async () => {
    const { client, created } = fakeClient(['a']);
    await new KafkaTopicAdmin(client, { brokers: ['b:9092'], clientId: 't', partitions: 12 }).ensureTopics(['a', 'b', 'b']);
    expect(created).toEqual([{ topic: 'b', numPartitions: 12, replicationFactor: -1 }]);
  });

  it(`creates ${DEFAULT_TOPIC_PARTITIONS} partitions unless told otherwise`, async () => {
    const { client, created } = fakeClient([]);
    await new KafkaTopicAdmin(client, { brokers: ['b:9092'], clientId: 't' }).ensureTopics(['c']);
    expect(created.map((t) => t.numPartitions)).toEqual([DEFAULT_TOPIC_PARTITIONS]);
  });
});
