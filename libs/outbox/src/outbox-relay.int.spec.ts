import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { sleep } from '@app/common';
import { KafkaClient, KafkaProducer } from '@app/kafka';
import { createMigratedDatabase, dropMigratedDatabase, waitFor } from '@app/testing';
import { OUTBOX_MIGRATIONS } from './index.js';
import { KafkaOutboxPublisher } from './kafka-outbox-publisher.js';
import { OutboxRelay } from './outbox-relay.service.js';
import { OutboxWriter } from './outbox-writer.js';
import { OutboxStatsReader } from './outbox-stats.js';
import { OutboxClaims } from './outbox-claims.js';
import { OutboxDeadLetters } from './outbox-dead-letters.js';
import { OutboxCommitSignal } from './outbox-commit-signal.js';
import type { OutboxRelayOptions } from './outbox.options.js';
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

  const relay = (publisher: OutboxPublisher, options: Partial<OutboxRelayOptions> = {}): OutboxRelay =>
    new OutboxRelay(dataSource, publisher, {
      relay: { batchSize: 50, retryBaseDelayMs: 1, ...options },
    });
  const drain = async (r: OutboxRelay): Promise<void> => {
    while ((await r.publishBatch()) > 0);
  };

  /** Every message of this test's topic as (key, payload), in partition-offset order. */
  async function readTopic(expected: number, filter: (key: string) => boolean): Promise<{ key: string; payload: any }[]> {
    const consumer = kafka.consumer({ groupId: `${topic}-reader-${Math.random().toString(36).slice(2)}` });
    const seen: { key: string; payload: any }[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const key = message.key?.toString() ?? '';
        if (filter(key)) seen.push({ key, payload: JSON.parse(message.value?.toString() ?? 'null') });
      },
    });
    try {
      await waitFor(() => seen.length >= expected || undefined, { timeoutMs: 30_000, description: `${expected} messages` });
      await sleep(500); // room for a duplicate to show up
      return seen;
    } finally {
      await consumer.disconnect();
    }
  }

  const add = (manager: DataSource['manager'], key: string) =>
    writer.add(manager, [{ topic, key, payload: { key } }]);

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('outbox_int', OUTBOX_MIGRATIONS));
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }], waitForLeaders: true });
    await admin.disconnect();
  });

  afterAll(async () => {
    await producer.onApplicationShutdown();
    await dropMigratedDatabase(dataSource, url);
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
    const publisher = new KafkaOutboxPublisher(producer);
    await Promise.all([drain(relay(publisher, { batchSize: 40 })), drain(relay(publisher, { batchSize: 40 }))]);

    // Read the topic itself: every row exactly once.
    const seen = await readTopic(keys.length, (key) => key.startsWith('concurrent-'));
    expect(seen).toHaveLength(keys.length);
    expect(new Set(seen.map((m) => m.key)).size).toBe(keys.length);
  });

  it('keeps each key in commit order across three relays with separate producers and uneven speed', async () => {
    const KEYS = 12;
    const PER_KEY = 25;
    for (let seq = 0; seq < PER_KEY; seq++) {
      await dataSource.transaction((m) =>
        writer.add(m, Array.from({ length: KEYS }, (_, k) => ({ topic, key: `ordered-${k}`, payload: { seq } }))),
      );
    }
    const producers = [0, 1, 2].map(() => new KafkaProducer(client));
    // Each relay stalls at random, so claims of one key would overtake each other if allowed to.
    const jittery = (p: KafkaProducer): OutboxPublisher => {
      const inner = new KafkaOutboxPublisher(p);
      return { publish: async (m) => (await sleep(Math.random() * 30), inner.publish(m)) };
    };
    try {
      await Promise.all(producers.map((p) => drain(relay(jittery(p), { batchSize: 7 }))));
    } finally {
      await Promise.all(producers.map((p) => p.onApplicationShutdown()));
    }
    const seen = await readTopic(KEYS * PER_KEY, (key) => key.startsWith('ordered-'));
    expect(seen).toHaveLength(KEYS * PER_KEY);
    for (let k = 0; k < KEYS; k++) {
      const sequence = seen.filter((m) => m.key === `ordered-${k}`).map((m) => m.payload.seq);
      expect(sequence).toEqual(Array.from({ length: PER_KEY }, (_, i) => i));
    }
  });

  it('fences a relay whose lease ran out: its late mark is refused and the rows go out again', async () => {
    await dataSource.transaction((m) => add(m, 'fenced'));
    const claims = new OutboxClaims(dataSource);
    const stale = await claims.claim(10, 50); // a relay that then stalls past its lease
    expect(stale?.messages.map((m) => m.key)).toEqual(['fenced']);
    expect(await claims.claim(10, 60_000)).toBeNull(); // while the lease holds, nobody else gets it
    await sleep(100);

    const publisher = new KafkaOutboxPublisher(producer);
    await publisher.publish(stale!.messages); // the stale relay's broker ack arrives…
    expect(await relay(publisher).publishBatch()).toBe(1); // …but the row was taken over and republished
    expect(await claims.markPublished(stale!.token, stale!.messages.map((m) => m.id))).toBe(0);
    // At-least-once: the crash window after an ack means consumers see it twice and deduplicate.
    expect(await readTopic(2, (key) => key === 'fenced')).toHaveLength(2);
  });

  it('dead-letters a message the broker rejects for good, publishes the rest, and can requeue it', async () => {
    const huge = 'x'.repeat(1_200_000); // above the broker's default message.max.bytes (1 MiB)
    await dataSource.transaction((m) =>
      writer.add(m, [
        { topic, key: 'dl-a', payload: { n: 1 } },
        { topic, key: 'dl-b', payload: { huge } },
        { topic, key: 'dl-b', payload: { n: 2 } },
        { topic, key: 'dl-c', payload: { n: 3 } },
      ]),
    );
    const r = relay(new KafkaOutboxPublisher(producer));
    await drain(r);
    const stats = await new OutboxStatsReader(dataSource).read();
    expect(stats).toMatchObject({ pending: 0, deadLettered: 1 });
    const deadLetters = new OutboxDeadLetters(dataSource);
    const [dead] = await deadLetters.list();
    expect(dead).toMatchObject({ key: 'dl-b', attempts: 1 });
    expect(dead?.lastError).toMatch(/larger than the max message size/);
    expect((await readTopic(3, (key) => key.startsWith('dl-'))).map((m) => m.payload.n)).toEqual(
      expect.arrayContaining([1, 2, 3]),
    );

    expect(await deadLetters.requeue([dead!.id, '999999999'])).toEqual([dead!.id]);
    expect((await new OutboxStatsReader(dataSource).read()).pending).toBe(1);
    await drain(r); // still too large: back among the dead letters, nothing else affected
    expect(await new OutboxStatsReader(dataSource).read()).toMatchObject({ pending: 0, deadLettered: 1 });
  });

  it('holds its rows while a send may still reach the broker: never two sends of the same rows at once', async () => {
    // A broker that accepts connections and never answers: every send hangs until kafkajs gives up.
    const sockets = new Set<Socket>();
    const hanging = createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', () => resolve()));
    const port = (hanging.address() as AddressInfo).port;
    const hangingProducer = new KafkaProducer(new KafkaClient({ brokers: [`127.0.0.1:${port}`], clientId: 'outbox-int-hang' }));
    const transport = new KafkaOutboxPublisher(hangingProducer);
    let inFlight = 0;
    let mostInFlight = 0;
    let sends = 0;
    const counting: OutboxPublisher = {
      publish: async (messages) => {
        sends++;
        mostInFlight = Math.max(mostInFlight, ++inFlight);
        try {
          await transport.publish(messages);
        } finally {
          inFlight--;
        }
      },
    };
    await dataSource.transaction((m) => add(m, 'hang-a'));
    // Two relays with a short lease, polling as fast as they can for 6 s.
    const relays = [relay(counting, { leaseMs: 1_500 }), relay(counting, { leaseMs: 1_500 })];
    const until = Date.now() + 6_000;
    const loops = relays.map(async (r) => {
      while (Date.now() < until) {
        await r.publishBatch().catch(() => undefined);
        await sleep(20);
      }
    });
    await sleep(6_000);
    // Let the hanging sends fail now, so the loops end.
    hanging.close();
    for (const socket of sockets) socket.destroy();
    await Promise.all(loops);
    await hangingProducer.onApplicationShutdown().catch(() => undefined);
    await dataSource.query(`DELETE FROM outbox WHERE message_key = 'hang-a'`);

    expect(sends).toBeGreaterThanOrEqual(1);
    expect(mostInFlight).toBe(1);
  });

  describe('wake-up without NOTIFY', () => {
    /** A running relay (as the module starts it) whose sends are recorded, in order, in `events`. */
    async function runningRelay(events: string[], pollIntervalMs: number) {
      const signal = new OutboxCommitSignal(dataSource);
      signal.onModuleInit();
      const inner = new KafkaOutboxPublisher(producer);
      const recording: OutboxPublisher = {
        publish: async (messages) => {
          await inner.publish(messages);
          events.push(...messages.map((m) => `published ${m.key}`));
        },
      };
      const running = new OutboxRelay(dataSource, recording, { relay: { pollIntervalMs, retryBaseDelayMs: 1 } }, signal);
      running.onApplicationBootstrap();
      await sleep(300); // its start-up round is over: it now waits for a signal or the poll
      return {
        writer: new OutboxWriter({}, signal),
        stop: async () => {
          await running.onApplicationShutdown();
          signal.onModuleDestroy();
        },
      };
    }

    it('has no trigger on the outbox: committing writers take no server-wide NOTIFY lock', async () => {
      const [{ triggers }] = await dataSource.query(
        `SELECT count(*)::int AS triggers FROM pg_trigger WHERE tgrelid = 'outbox'::regclass AND NOT tgisinternal`,
      );
      expect(triggers).toBe(0);
    });

    it('publishes a row committed through OutboxWriter right after the commit, long before the poll', async () => {
      const events: string[] = [];
      const { writer: signalling, stop } = await runningRelay(events, 120_000);
      try {
        await dataSource.transaction(async (m) => {
          await signalling.add(m, [{ topic, key: 'signalled', payload: { key: 'signalled' } }]);
          await sleep(200); // uncommitted: nothing may go out yet
          events.push('committing');
        });
        await waitFor(() => events.includes('published signalled') || undefined, {
          timeoutMs: 15_000, // far below the 120 s poll: only the commit signal can have woken it
          description: 'the signalled row published',
        });
        expect(events).toEqual(['committing', 'published signalled']);
      } finally {
        await stop();
      }
    });

    it('publishes a row another process inserted with plain SQL (no signal) on the fallback poll', async () => {
      const events: string[] = [];
      const { stop } = await runningRelay(events, 300);
      const other = new pg.Client({ connectionString: url });
      await other.connect();
      try {
        await other.query(`INSERT INTO outbox (topic, message_key, payload) VALUES ($1, 'polled', '{"key":"polled"}')`, [topic]);
        events.push('inserted');
        await waitFor(() => events.includes('published polled') || undefined, { timeoutMs: 15_000, description: 'the polled row published' });
        expect(events).toEqual(['inserted', 'published polled']);
      } finally {
        await other.end();
        await stop();
      }
    });
  });

  it('claims at most maxBytes per batch, but always at least one row', async () => {
    const big = 'b'.repeat(300_000);
    await dataSource.transaction((m) =>
      writer.add(m, [1, 2, 3, 4].map((n) => ({ topic, key: `bytes-${n}`, payload: { n, big } }))),
    );
    const claims = new OutboxClaims(dataSource);
    try {
      const first = await claims.claim(10, 60_000, 500_000); // 2 rows: 600,000 bytes before the third
      expect(first?.messages.map((m) => m.key)).toEqual(['bytes-1', 'bytes-2']);
      const alone = await claims.claim(10, 60_000, 1_000);
      expect(alone?.messages.map((m) => m.key)).toEqual(['bytes-3']);
    } finally {
      await dataSource.query(`DELETE FROM outbox WHERE message_key LIKE 'bytes-%'`);
    }
  });
});
