import { describe, expect, it } from 'vitest';
import type { ITopicConfig } from 'kafkajs';
import { KafkaTopicAdmin, TopicReplicationError } from './kafka-admin.js';
import type { KafkaClient } from './kafka-client.js';
import { DEFAULT_TOPIC_PARTITIONS, type KafkaModuleOptions } from './kafka.options.js';

/** A client whose admin reports `existing` topics on a cluster of `brokers` and records what it is asked to create. */
function fakeClient(existing: string[], brokers = 1): { client: KafkaClient; created: ITopicConfig[] } {
  const created: ITopicConfig[] = [];
  const admin = {
    connect: async () => undefined,
    disconnect: async () => undefined,
    listTopics: async () => existing,
    describeCluster: async () => ({ brokers: Array.from({ length: brokers }, (_, i) => ({ nodeId: i + 1, host: '127.0.0.1', port: 9092 + i })) }),
    fetchTopicMetadata: async ({ topics }: { topics: string[] }) => ({
      topics: topics.map((name) => ({ name, partitions: [{ partitionId: 0, leader: 1, replicas: [1], isr: [1] }] })),
    }),
    createTopics: async ({ topics }: { topics: ITopicConfig[] }) => (created.push(...topics), true),
  };
  return { client: { kafka: { admin: () => admin } } as unknown as KafkaClient, created };
}

const options = (overrides: Partial<KafkaModuleOptions> = {}): KafkaModuleOptions => ({ brokers: ['b:9092'], clientId: 't', ...overrides });
const minInsync = (t: ITopicConfig | undefined) => t?.configEntries?.find((e) => e.name === 'min.insync.replicas')?.value;

describe('KafkaTopicAdmin.ensureTopics', () => {
  it('creates the missing topics with the configured partitions', async () => {
    const { client, created } = fakeClient(['a']);
    await new KafkaTopicAdmin(client, options({ partitions: 12 })).ensureTopics(['a', 'b', 'b']);
    expect(created).toEqual([{ topic: 'b', numPartitions: 12, replicationFactor: 1, configEntries: [{ name: 'min.insync.replicas', value: '1' }] }]);
  });

  it(`creates ${DEFAULT_TOPIC_PARTITIONS} partitions unless told otherwise`, async () => {
    const { client, created } = fakeClient([]);
    await new KafkaTopicAdmin(client, options()).ensureTopics(['c']);
    expect(created.map((t) => t.numPartitions)).toEqual([DEFAULT_TOPIC_PARTITIONS]);
  });

  it.each([
    [1, 1, '1'],
    [2, 2, '1'],
    [3, 3, '2'],
    [5, 3, '2'],
  ])('on %i broker(s), defaults to replication factor %i and min.insync.replicas %s', async (brokers, replicationFactor, minIsr) => {
    const { client, created } = fakeClient([], brokers);
    await new KafkaTopicAdmin(client, options()).ensureTopics(['t', 't.dlq']);
    expect(created.map((t) => t.replicationFactor)).toEqual([replicationFactor, replicationFactor]);
    expect(created.map(minInsync)).toEqual([minIsr, minIsr]);
  });

  it('applies the configured replication, dead-letter topics included', async () => {
    const { client, created } = fakeClient([], 5);
    await new KafkaTopicAdmin(client, options({ replicationFactor: 4, minInsyncReplicas: 3 })).ensureTopics(['t', 't.dlq']);
    expect(created.map((t) => [t.topic, t.replicationFactor, minInsync(t)])).toEqual([
      ['t', 4, '3'],
      ['t.dlq', 4, '3'],
    ]);
  });

  it('refuses a replication factor above the live brokers, and min.insync.replicas above it, creating nothing', async () => {
    const few = fakeClient([], 2);
    await expect(new KafkaTopicAdmin(few.client, options({ replicationFactor: 3 })).ensureTopics(['t'])).rejects.toThrow(
      new TopicReplicationError('replication factor 3 needs 3 live brokers; the cluster has 2'),
    );
    const impossible = fakeClient([], 3);
    await expect(new KafkaTopicAdmin(impossible.client, options({ replicationFactor: 2, minInsyncReplicas: 3 })).ensureTopics(['t'])).rejects.toBeInstanceOf(
      TopicReplicationError,
    );
    expect([...few.created, ...impossible.created]).toEqual([]);
  });
});
