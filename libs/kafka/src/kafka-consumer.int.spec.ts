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
import type { BatchItem, ConsumerDefinition, HandlerOutcome, MessageContext } from './partition-processor.js';

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
  let pool: pg.Pool;

  beforeAll(async () => {
    databaseUrl = await createTestDatabase('consumer_int');
    db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    await db.query(`CREATE TABLE seen (n int PRIMARY KEY)`);
    await db.query(`CREATE TABLE batch_seen (n int PRIMARY KEY, partition int NOT NULL, "offset" bigint NOT NULL)`);
    pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  });

  afterEach(async () => {
    await Promise.all(running.splice(0).map((c) => c.stop()));
    await readers.close();
  });

  afterAll(async () => {
    await producer.onApplicationShutdown();
    await pool.end();
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

  it('retries a message refused for a missing privilege (42501, a deploy whose GRANT has not run) until it is granted, never dead-letters it', async () => {
    const topic = unique('privilege');
    // Roles are cluster-wide: a unique one, dropped at the end.
    const role = `consumer_int_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    await db.query(`CREATE TABLE guarded (n int PRIMARY KEY)`);
    await db.query(`CREATE ROLE ${role} NOLOGIN`);
    try {
      await publish(topic, [
        { partition: 0, n: 1 },
        { partition: 0, n: 2 },
      ]);
      let tries = 0;
      const processed: number[] = [];
      start(
        newRunner(),
        topic,
        unique('group'),
        async ({ n }) => {
          const client = await pool.connect();
          try {
            await client.query('BEGIN');
            await client.query(`SET LOCAL ROLE ${role}`);
            tries++;
            await client.query(`INSERT INTO guarded (n) VALUES ($1)`, [n]);
            await client.query('COMMIT');
          } catch (error) {
            await client.query('ROLLBACK');
            throw error;
          } finally {
            client.release();
          }
          processed.push(n);
          return 'processed';
        },
        { maxDeterministicFailures: 2 },
      );
      // Well past the deterministic limit: a deterministic failure would be dead-lettered by now.
      await waitFor(() => tries >= 5 || undefined, { timeoutMs: 30_000, description: 'five refused tries' });
      expect(processed).toEqual([]);
      await db.query(`GRANT INSERT ON guarded TO ${role}`);
      await waitFor(() => processed.length === 2 || undefined, { timeoutMs: 30_000, description: 'both messages once granted' });
      expect(processed).toEqual([1, 2]);
      const kafkaAdmin = raw.admin();
      await kafkaAdmin.connect();
      const deadLetterOffsets = await kafkaAdmin.fetchTopicOffsets(deadLetterTopic(topic));
      await kafkaAdmin.disconnect();
      expect(deadLetterOffsets.map((p) => p.high)).toEqual(deadLetterOffsets.map(() => '0'));
    } finally {
      await Promise.all(running.splice(0).map((c) => c.stop()));
      await db.query(`DROP TABLE guarded`);
      await db.query(`DROP ROLE ${role}`);
    }
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

  describe('with handleBatch', () => {
    type Batch = readonly BatchItem<Payload>[];
    /** Every call a batch handler received, as the items' n. */
    let calls: number[][];
    afterEach(() => {
      calls = [];
    });
    calls = [];

    function startBatch(
      runner: KafkaConsumerRunner,
      topic: string,
      groupId: string,
      handleBatch: (items: Batch) => Promise<HandlerOutcome[]>,
      extra: Partial<ConsumerDefinition<typeof payloadSchema>> = {},
    ): RunningConsumer {
      return start(runner, topic, groupId, async () => expect.fail('handle() is not used when handleBatch() is given'), {
        handleBatch: async (items) => {
          calls.push(items.map((i) => i.payload.n));
          return handleBatch(items);
        },
        ...extra,
      });
    }

    /** Writes the batch in one transaction (all or nothing, as the contract asks); `fail` may throw inside it. */
    async function insertAll(items: Batch, fail: (n: number) => void = () => undefined): Promise<HandlerOutcome[]> {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        for (const { payload, context } of items) {
          fail(payload.n);
          await client.query(`INSERT INTO batch_seen (n, partition, "offset") VALUES ($1, $2, $3)`, [payload.n, context.partition, context.offset]);
        }
        await client.query('COMMIT');
        return items.map(() => 'processed');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      } finally {
        client.release();
      }
    }

    async function rows(from: number, to: number): Promise<{ n: number; partition: number; offset: string }[]> {
      const result = await db.query<{ n: number; partition: number; offset: string }>(
        `SELECT n, partition, "offset"::text AS offset FROM batch_seen WHERE n BETWEEN $1 AND $2 ORDER BY partition, "offset"`,
        [from, to],
      );
      return result.rows;
    }

    const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);
    const handledOnce = (): number[] => calls.flat();

    it('hands a backlog to the handler in runs of several messages of one partition, each message once, in order', async () => {
      const topic = unique('batch-backlog');
      await publish(topic, [...range(1000, 30).map((n) => ({ partition: 0, n })), ...range(2000, 30).map((n) => ({ partition: 1, n }))]);
      startBatch(newRunner(), topic, unique('group'), (items) => insertAll(items), { maxBatchSize: 8 });
      await waitFor(async () => (await rows(1000, 2999)).length === 60 || undefined, { timeoutMs: 30_000, description: 'all 60 messages' });

      expect(calls.some((call) => call.length > 1)).toBe(true);
      expect(calls.every((call) => call.length <= 8)).toBe(true);
      // One partition per call, in offset order, every message exactly once.
      expect(calls.every((call) => call.every((n) => Math.floor(n / 1000) === Math.floor(call[0]! / 1000)))).toBe(true);
      expect(handledOnce().filter((n) => n < 2000)).toEqual(range(1000, 30));
      expect(handledOnce().filter((n) => n >= 2000)).toEqual(range(2000, 30));
    });

    it('dead-letters a poison message in the middle of a backlog with its reason; handles every other one once, in order', async () => {
      const topic = unique('batch-poison');
      await admin.ensureTopics([topic, deadLetterTopic(topic)]);
      const values = [...range(3000, 5).map((n) => JSON.stringify({ n })), '{"n":"x"}', ...range(3005, 5).map((n) => JSON.stringify({ n }))];
      const p = raw.producer();
      await p.connect();
      await p.send({ topic, messages: values.map((value) => ({ partition: 0, value })) });
      await p.disconnect();
      startBatch(newRunner(), topic, unique('group'), (items) => insertAll(items));
      await waitFor(async () => (await rows(3000, 3999)).length === 10 || undefined, { timeoutMs: 30_000, description: 'the 10 valid messages' });

      expect(handledOnce()).toEqual(range(3000, 10));
      // The run before the poison was flushed before it: no call spans it.
      expect(calls.every((call) => call.every((n) => n < 3005) || call.every((n) => n >= 3005))).toBe(true);
      expect(calls.some((call) => call.length > 1)).toBe(true);
      const deadLetters = await readers.readAll(deadLetterTopic(topic), 1, '1 dead letter');
      expect(deadLetters).toHaveLength(1);
      expect(deadLetters[0]).toMatchObject({ value: '{"n":"x"}', headers: { [DeadLetterHeaders.code]: 'invalid_input', [DeadLetterHeaders.sourceOffset]: '5' } });
      expect(deadLetters[0]?.headers[DeadLetterHeaders.reason]).toMatch(/^InvalidInputError: test message is invalid: n: /);
    });

    it('falls back to one message at a time when a batch fails: the others are committed, the failing one is retried (transient)', async () => {
      const topic = unique('batch-transient');
      await publish(topic, range(4000, 10).map((n) => ({ partition: 0, n })));
      let failuresLeft = 3;
      startBatch(newRunner(), topic, unique('group'), (items) =>
        insertAll(items, (n) => {
          if (n === 4004 && failuresLeft-- > 0) throw new TransientError('database unavailable');
        }),
      );
      await waitFor(async () => (await rows(4000, 4999)).length === 10 || undefined, { timeoutMs: 30_000, description: 'all 10 messages' });

      expect(failuresLeft).toBe(-1);
      expect((await rows(4000, 4999)).map((r) => r.n)).toEqual(range(4000, 10));
      // The failed batch, then its messages one by one up to the failing one, which was then retried alone.
      expect(calls[0]).toEqual(range(4000, 10));
      expect(calls.slice(1, 6)).toEqual([[4000], [4001], [4002], [4003], [4004]]);
      expect(calls.filter((call) => call.includes(4004)).slice(1).every((call) => call[0] === 4004)).toBe(true);
      expect(calls.at(-1)).toEqual(range(4005, 5));
    });

    it('dead-letters a message the database refuses every time after the limit, and commits the others of its batch', async () => {
      const topic = unique('batch-deterministic');
      await db.query(`INSERT INTO batch_seen (n, partition, "offset") VALUES (5003, -1, -1)`);
      await publish(topic, range(5000, 8).map((n) => ({ partition: 0, n })));
      startBatch(newRunner(), topic, unique('group'), (items) => insertAll(items), { maxDeterministicFailures: 3 });
      await waitFor(async () => (await rows(5000, 5999)).length === 8 || undefined, { timeoutMs: 30_000, description: 'the other 7 messages' });

      // 5003 alone was tried three times: once in the fallback, twice after the pause.
      expect(calls.filter((call) => call.length === 1 && call[0] === 5003)).toHaveLength(3);
      expect((await rows(5000, 5999)).filter((r) => r.partition === 0).map((r) => r.n)).toEqual(range(5000, 8).filter((n) => n !== 5003));
      const deadLetters = await readers.readAll(deadLetterTopic(topic), 1, '1 dead letter');
      expect(deadLetters[0]).toMatchObject({ value: JSON.stringify({ n: 5003 }), headers: { [DeadLetterHeaders.code]: 'database.23505', [DeadLetterHeaders.sourceOffset]: '3' } });
      expect(deadLetters[0]?.headers[DeadLetterHeaders.reason]).toMatch(/failed deterministically 3 times/);
    });

    it('never commits past a message that was not handled: a restarted consumer loses nothing', async () => {
      const topic = unique('batch-restart');
      const groupId = unique('group');
      await publish(topic, range(6000, 10).map((n) => ({ partition: 0, n })));
      const first = startBatch(newRunner(), topic, groupId, (items) =>
        insertAll(items, (n) => {
          if (n === 6006) throw new TransientError('database unavailable');
        }),
      );
      await waitFor(() => calls.filter((call) => call[0] === 6006).length >= 2 || undefined, { timeoutMs: 30_000, description: 'message 6006 to fail alone twice' });
      await first.stop();
      running.splice(running.indexOf(first), 1);
      expect((await rows(6000, 6999)).map((r) => r.n)).toEqual(range(6000, 6));
      const kafkaAdmin = raw.admin();
      await kafkaAdmin.connect();
      const [committed] = await kafkaAdmin.fetchOffsets({ groupId, topics: [topic] });
      await kafkaAdmin.disconnect();
      expect(committed?.partitions.find((p) => p.partition === 0)?.offset).toBe('6');

      calls = [];
      startBatch(newRunner(), topic, groupId, (items) => insertAll(items));
      await waitFor(async () => (await rows(6000, 6999)).length === 10 || undefined, { timeoutMs: 30_000, description: 'the rest after the restart' });
      expect(handledOnce()).toEqual(range(6006, 4));
    });

    it('refuses a definition with neither handle() nor handleBatch(), or a bad maxBatchSize', () => {
      const base = { groupId: 'g', topics: ['t'], schema: payloadSchema, description: 'test message' };
      expect(() => newRunner().start(base)).toThrow(/needs handle\(\) or handleBatch\(\)/);
      expect(() => newRunner().start({ ...base, handleBatch: async () => [], maxBatchSize: 0 })).toThrow(/maxBatchSize must be a positive integer/);
    });
  });
});
