import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { z } from 'zod';
import { DeadLetterHeaders, deadLetterTopic } from '@app/contracts';
import { TransientError, sleep } from '@app/common';
import { TopicReaders, createTestDatabase, dropTestDatabase, waitFor } from '@app/testing';
import { KafkaClient } from './kafka-client.js';
import { KafkaProducer } from './kafka-producer.js';
import { KafkaTopicAdmin } from './kafka-admin.js';
import { KafkaConsumerRunner, type RunningConsumer } from './kafka-consumer.js';
import type { ConsumerDefinition, MessageContext } from './partition-processor.js';

const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const payloadSchema = z.object({ n: z.number() });
type Payload = z.output<typeof payloadSchema>;

/**
 * The consumer runner on the real broker (a unique topic and group per test): retries without
 * skipping, dead letters, hand-back on stop, and rebalances that a failing partition cannot hold up.
 */
describe('KafkaConsumerRunner (Kafka)', () => {
  const options = { brokers: BROKERS, clientId: 'consumer-int' };
  const client = new KafkaClient(options);
  const producer = new KafkaProducer(client);
  const admin = new KafkaTopicAdmin(client, { ...options, partitions: 2 });
  const raw = new Kafka({ clientId: 'consumer-int-raw', brokers: BROKERS, logLevel: logLevel.NOTHING });
  const running: RunningConsumer[] = [];
  const readers = new TopicReaders(raw);
  let databaseUrl: string;
  let db: pg.Client;

  beforeAll(async () => {
    databaseUrl = await createTestDatabase('consumer_int');
    db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    await db.query(`CREATE TABLE seen (n int PRIMARY KEY)`);
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((c) => c.stop()));
    await readers.close();
  });

  afterAll(async () => {
    await producer.onApplicationShutdown();
    await db.end();
    await dropTestDatabase(databaseUrl);
  });

  const unique = (name: string): string => `consumer-int-${name}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

  async function publish(topic: string, messages: { partition: number; n: number }[]): Promise<void> {
    await admin.ensureTopics([topic, deadLetterTopic(topic)]);
    const p = raw.producer();
    await p.connect();
    await p.send({ topic, messages: messages.map(({ partition, n }) => ({ partition, key: String(n), value: JSON.stringify({ n }) })) });
    await p.disconnect();
  }

  function start(
    runner: KafkaConsumerRunner,
    topic: string,
    groupId: string,
    handle: (payload: Payload, context: MessageContext) => Promise<'processed'>,
    extra: Partial<ConsumerDefinition<typeof payloadSchema>> = {},
  ): RunningConsumer {
    const consumer = runner.start({ groupId, topics: [topic], schema: payloadSchema, description: 'test message', concurrency: 2, handle, ...extra });
    running.push(consumer);
    return consumer;
  }

  const newRunner = (): KafkaConsumerRunner => new KafkaConsumerRunner(client, producer, admin);

  it('retries a failing message without skipping it, in order, while the other partition keeps flowing', async () => {
    const topic = unique('retry');
    await publish(topic, [
      { partition: 0, n: 1 },
      { partition: 0, n: 2 },
      { partition: 0, n: 3 },
      { partition: 1, n: 10 },
      { partition: 1, n: 11 },
    ]);
    const processed: number[] = [];
    let failuresLeft = 3;
    start(newRunner(), topic, unique('group'), async ({ n }) => {
      if (n === 2 && failuresLeft-- > 0) throw new TransientError('database unavailable');
      processed.push(n);
      return 'processed';
    });
    await waitFor(() => processed.length === 5 || undefined, { timeoutMs: 30_000, description: 'all five messages' });
    expect(failuresLeft).toBe(-1); // failed three times, then succeeded on the fourth try
    expect(processed.filter((n) => n < 10)).toEqual([1, 2, 3]);
    // Partition 1 did not wait for partition 0's retries.
    expect(processed.indexOf(11)).toBeLessThan(processed.indexOf(2));
  });

  it('dead-letters a message the database refuses every time after a few tries, and moves on', async () => {
    const topic = unique('deterministic');
    await db.query(`INSERT INTO seen (n) VALUES (2)`);
    await publish(topic, [
      { partition: 0, n: 1 },
      { partition: 0, n: 2 },
      { partition: 0, n: 3 },
    ]);
    const tries = new Map<number, number>();
    const processed: number[] = [];
    start(
      newRunner(),
      topic,
      unique('group'),
      async ({ n }) => {
        tries.set(n, (tries.get(n) ?? 0) + 1);
        await db.query(`INSERT INTO seen (n) VALUES ($1)`, [n]); // 2 violates the primary key: 23505
        processed.push(n);
        return 'processed';
      },
      { maxDeterministicFailures: 3 },
    );
    await waitFor(() => processed.includes(3) || undefined, { timeoutMs: 30_000, description: 'the message after the bad one' });
    expect(processed).toEqual([1, 3]);
    expect(tries.get(2)).toBe(3);

    const deadLetters = await readers.readAll(deadLetterTopic(topic), 1, '1 dead letters');
    expect(deadLetters).toHaveLength(1);
    expect(deadLetters[0]?.value).toBe(JSON.stringify({ n: 2 }));
    expect(deadLetters[0]?.headers[DeadLetterHeaders.code]).toBe('database.23505');
    expect(deadLetters[0]?.headers[DeadLetterHeaders.reason]).toMatch(/failed deterministically 3 times/);
    expect(deadLetters[0]?.headers[DeadLetterHeaders.sourceOffset]).toBe('1');
  });

  it('dead-letters poison at once (not JSON, wrong shape) and moves on', async () => {
    const topic = unique('poison');
    await admin.ensureTopics([topic, deadLetterTopic(topic)]);
    const p = raw.producer();
    await p.connect();
    await p.send({ topic, messages: [0, 1, 2].map((i) => ({ partition: 0, value: ['{not json', '{"n":"x"}', '{"n":7}'][i]! })) });
    await p.disconnect();
    const processed: number[] = [];
    start(newRunner(), topic, unique('group'), async ({ n }) => {
      processed.push(n);
      return 'processed';
    });
    await waitFor(() => processed.length === 1 || undefined, { timeoutMs: 30_000, description: 'the valid message' });
    expect(processed).toEqual([7]);
    const deadLetters = await readers.readAll(deadLetterTopic(topic), 2, '2 dead letters');
    expect(deadLetters.map((d) => d.headers[DeadLetterHeaders.code])).toEqual(['invalid_input', 'invalid_input']);
  });

  it('hands a message that is still failing back uncommitted on stop: the next member of the group gets it', async () => {
    const topic = unique('handback');
    const groupId = unique('group');
    await publish(topic, [
      { partition: 0, n: 1 },
      { partition: 0, n: 2 },
    ]);
    const first: number[] = [];
    let attempts = 0;
    const failing = start(newRunner(), topic, groupId, async ({ n }) => {
      if (n === 2) {
        attempts++;
        throw new TransientError('database unavailable');
      }
      first.push(n);
      return 'processed';
    });
    await waitFor(() => attempts >= 2 || undefined, { timeoutMs: 30_000, description: 'message 2 to fail twice' });
    await failing.stop();
    running.splice(running.indexOf(failing), 1);
    expect(first).toEqual([1]);

    const second: number[] = [];
    start(newRunner(), topic, groupId, async ({ n }) => {
      second.push(n);
      return 'processed';
    });
    await waitFor(() => second.length >= 1 || undefined, { timeoutMs: 30_000, description: 'the handed-back message' });
    await sleep(500);
    expect(second).toEqual([2]); // 1 was committed, 2 was not skipped
  });

  it('lets a rebalance complete while a partition keeps failing: partitions move to a member that joins', async () => {
    const topic = unique('rebalance');
    const groupId = unique('group');
    await publish(topic, [
      { partition: 0, n: 1 },
      { partition: 1, n: 2 },
    ]);
    const first = start(newRunner(), topic, groupId, async () => {
      throw new TransientError('database unavailable'); // e.g. PostgreSQL down for this instance
    });
    await waitFor(() => first.state().state === 'running' || undefined, { timeoutMs: 30_000, description: 'the first member to join' });
    await sleep(2_000); // both partitions are failing on the first member now

    const taken: { n: number; partition: number }[] = [];
    const joined = Date.now();
    start(newRunner(), topic, groupId, async ({ n }, { partition }) => {
      taken.push({ n, partition });
      return 'processed';
    });
    await waitFor(() => taken.length >= 1 || undefined, { timeoutMs: 20_000, description: 'the joining member to get a partition' });
    // Well within the session timeout (10 s) plus a join: the failing member did not hold the group up.
    expect(Date.now() - joined).toBeLessThan(15_000);
  });

});
