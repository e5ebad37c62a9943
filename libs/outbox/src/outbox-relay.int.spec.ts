import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaClient, KafkaProducer } from '@app/kafka';
import { createTestDatabase, dropTestDatabase, waitFor } from '@app/testing';
import { CreateOutbox1763900000000 } from './outbox.migration.js';
import { KafkaOutboxPublisher } from './kafka-outbox-publisher.js';
import { OutboxRelay } from './outbox-relay.service.js';
import { OutboxWriter } from './outbox-writer.js';
import { OutboxStatsReader } from './outbox-stats.js';
import type { OutboxPublisher } from './outbox-publisher.js';

const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

/** The relay against real PostgreSQL and a real Kafka broker, with a unique database and topic. */
describe('OutboxRelay (PostgreSQL + Kafka)', () => {
  const topic = `outbox-int-${Date.now().toString(36)}`;
  const kafka = new Kafka({ clientId: 'outbox-int', brokers: BROKERS, logLevel: logLevel.NOTHING });
  const client = new KafkaClient({ brokers: BROKERS, clientId: 'outbox-int' });
  const producer = new KafkaProducer(client);
  const writer = new OutboxWriter();
  let url: string;
  let dataSource: DataSource;

  const relay = (publisher: OutboxPublisher, batchSize = 50): OutboxRelay =>
    new OutboxRelay(dataSource, publisher, { connectionString: url, publisher: KafkaOutboxPublisher, relay: { batchSize } });

  const add = (manager: DataSource['manager'], key: string) =>
    writer.add(manager, [{ topic, key, payload: { key } }]);

  beforeAll(async () => {
    url = await createTestDatabase('outbox_int');
    dataSource = new DataSource({ type: 'postgres', url, migrations: [CreateOutbox1763900000000] });
    await dataSource.initialize();
    await dataSource.runMigrations();
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
    await admin.disconnect();
  });

  afterAll(async () => {
    await producer.onApplicationShutdown();
    await dataSource.destroy();
    await dropTestDatabase(url);
  });

  async function publishedKeys(): Promise<string[]> {
    const rows: { message_key: string }[] = await dataSource.query(
      `SELECT message_key FROM outbox WHERE published_at IS NOT NULL ORDER BY published_at, id`,
    );
    return rows.map((r) => r.message_key);
  }

  it('publishes a row whose transaction committed after a higher id was already published', async () => {
    const late = dataSource.createQueryRunner();
    await late.connect();
    await late.startTransaction();
    await add(late.manager, 'late'); // takes the lower id, commits last

    await dataSource.transaction((m) => add(m, 'early'));
    const kafkaRelay = relay(new KafkaOutboxPublisher(producer));
    expect(await kafkaRelay.publishBatch()).toBe(1);

    await late.commitTransaction();
    await late.release();
    expect(await kafkaRelay.publishBatch()).toBe(1);
    expect(await publishedKeys()).toEqual(['early', 'late']);
  });

  it('leaves rows unpublished, with the error, while the transport fails, and sends them once it is back', async () => {
    await dataSource.transaction((m) => add(m, 'while-down'));
    const down: OutboxPublisher = { publish: () => Promise.reject(new Error('broker unreachable')) };
    await expect(relay(down).publishBatch()).rejects.toThrow('broker unreachable');
    const [row] = await dataSource.query(`SELECT attempts, last_error, published_at FROM outbox WHERE message_key = 'while-down'`);
    expect(row).toMatchObject({ attempts: 1, last_error: 'Error: broker unreachable', published_at: null });
    expect((await new OutboxStatsReader(dataSource).read()).pending).toBe(1);

    expect(await relay(new KafkaOutboxPublisher(producer)).publishBatch()).toBe(1);
    expect((await new OutboxStatsReader(dataSource).read()).pending).toBe(0);
  });

  it('lets two relays drain one outbox concurrently without publishing any row twice', async () => {
    const keys = Array.from({ length: 600 }, (_, i) => `concurrent-${i}`);
    for (let i = 0; i < keys.length; i += 100) {
      await dataSource.transaction((m) => writer.add(m, keys.slice(i, i + 100).map((key) => ({ topic, key, payload: { key } }))));
    }
    const drain = async (r: OutboxRelay) => {
      while ((await r.publishBatch()) > 0);
    };
    const publisher = new KafkaOutboxPublisher(producer);
    await Promise.all([drain(relay(publisher, 40)), drain(relay(publisher, 40))]);

    // Read the topic itself: every row exactly once, identified by its outbox id header.
    const consumer = kafka.consumer({ groupId: `${topic}-reader` });
    const seen = new Map<string, number>();
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const key = message.key?.toString() ?? '';
        if (key.startsWith('concurrent-')) seen.set(key, (seen.get(key) ?? 0) + 1);
      },
    });
    try {
      await waitFor(() => seen.size === keys.length || undefined, { timeoutMs: 30_000, description: '600 messages' });
      await new Promise((r) => setTimeout(r, 500)); // room for a duplicate to show up
      expect([...seen.values()].every((n) => n === 1)).toBe(true);
    } finally {
      await consumer.disconnect();
    }
  });
});
