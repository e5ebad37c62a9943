import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';
import { z } from 'zod';
import { DeadLetterHeaders, PARKED_CODE, ReplayHeaders, deadLetterTopic, unknownKindOf } from '@app/contracts';
import { waitFor } from '@app/testing';
import { KafkaClient } from './kafka-client.js';
import { KafkaProducer } from './kafka-producer.js';
import { KafkaTopicAdmin } from './kafka-admin.js';
import { KafkaTopics } from './kafka-topics.js';
import { KafkaConsumerRunner, type RunningConsumer } from './kafka-consumer.js';
import { KafkaDeadLetters } from './kafka-dead-letters.js';
import { DEAD_LETTER_HEADROOM_BYTES } from './kafka.options.js';
import type { ConsumerDefinition, HandlerOutcome, MessageContext } from './partition-processor.js';

const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const RETENTION_MS = 3 * 86_400_000;

/**
 * Dead letters on the real broker (a unique prefix per test): the dead-letter topics' settings, a
 * dead-letter write that fails (blocked, counted, then drained once fixed), and a rolling upgrade
 * (unknown fields dropped, an unknown type parked, then applied by the upgraded consumer after a
 * replay).
 */
describe('dead letters (Kafka)', () => {
  const raw = new Kafka({ clientId: 'dead-letters-int-raw', brokers: BROKERS, logLevel: logLevel.NOTHING });
  const running: RunningConsumer[] = [];
  const clients: KafkaProducer[] = [];

  afterEach(async () => {
    await Promise.all(running.splice(0).map((c) => c.stop()));
  });
  afterAll(async () => {
    await Promise.all(clients.map((p) => p.onApplicationShutdown()));
  });

  function kit(prefix: string) {
    const options = { brokers: BROKERS, clientId: 'dead-letters-int', topicPrefix: prefix, partitions: 1, deadLetterRetentionMs: RETENTION_MS };
    const client = new KafkaClient(options);
    const producer = new KafkaProducer(client);
    clients.push(producer);
    const admin = new KafkaTopicAdmin(client, options);
    const topics = new KafkaTopics(options);
    return { admin, runner: new KafkaConsumerRunner(client, producer, admin), deadLetters: new KafkaDeadLetters(client, producer, topics) };
  }
  const uniquePrefix = (): string => `dead-letters-int-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}.`;

  async function configsOf(topic: string): Promise<Map<string, string>> {
    const admin = raw.admin();
    await admin.connect();
    try {
      const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }] });
      return new Map(resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
    } finally {
      await admin.disconnect();
    }
  }
  async function alter(topic: string, entries: Record<string, string>): Promise<void> {
    const admin = raw.admin();
    await admin.connect();
    try {
      await admin.alterConfigs({
        validateOnly: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: Object.entries(entries).map(([name, value]) => ({ name, value })) }],
      });
    } finally {
      await admin.disconnect();
    }
  }
  async function publish(topic: string, messages: { key: string; value: string; headers?: Record<string, string> }[]): Promise<void> {
    const p = raw.producer();
    await p.connect();
    await p.send({ topic, messages });
    await p.disconnect();
  }

  it('creates each dead-letter topic sized after its source, with the configured retention; updates an existing one and keeps its other settings', async () => {
    const prefix = uniquePrefix();
    const { admin } = kit(prefix);
    const fresh = `${prefix}fresh`;
    const old = `${prefix}old`;
    await admin.ensureTopics([fresh, old]);
    await alter(fresh, { 'max.message.bytes': '2000000' });
    // A dead-letter topic that exists already (as the broker's defaults made it), with an operator's setting.
    await admin.ensureTopics([deadLetterTopic(old)]);
    await alter(deadLetterTopic(old), { 'cleanup.policy': 'delete', 'min.cleanable.dirty.ratio': '0.3' });

    await admin.ensureDeadLetterTopics([fresh, old]);

    const brokerDefault = Number((await configsOf(old)).get('max.message.bytes'));
    expect(Object.fromEntries(await configsOf(deadLetterTopic(fresh)))).toMatchObject({
      'max.message.bytes': String(2_000_000 + DEAD_LETTER_HEADROOM_BYTES),
      'retention.ms': String(RETENTION_MS),
      'segment.ms': '86400000',
    });
    expect(Object.fromEntries(await configsOf(deadLetterTopic(old)))).toMatchObject({
      'max.message.bytes': String(brokerDefault + DEAD_LETTER_HEADROOM_BYTES),
      'retention.ms': String(RETENTION_MS),
      'min.cleanable.dirty.ratio': '0.3',
    });
  });

  it('a dead-letter write that keeps failing holds its partition, counted and reported blocked; once fixed, it drains in order', async () => {
    const prefix = uniquePrefix();
    const { runner } = kit(prefix);
    const topic = `${prefix}items`;
    const handled: number[] = [];
    const definition: ConsumerDefinition<z.ZodType<{ n: number }>> = {
      groupId: `${prefix}items.handler`,
      topics: [topic],
      schema: z.strictObject({ n: z.number() }),
      description: 'item',
      handle: async (payload: { n: number }): Promise<HandlerOutcome> => {
        handled.push(payload.n);
        return 'processed';
      },
    };
    running.push(runner.start(definition));
    await waitFor(() => runner.states()[0]?.state === 'running' || undefined, { timeoutMs: 30_000, description: 'the consumer to join' });
    // The dead-letter topic refuses anything over 1 KB: the poison (2 KB) cannot be dead-lettered.
    await alter(deadLetterTopic(topic), { 'max.message.bytes': '1024' });
    await publish(topic, [
      { key: 'a', value: JSON.stringify({ n: 1 }) },
      { key: 'poison', value: JSON.stringify({ n: 'x'.repeat(2_000) }) },
      { key: 'b', value: JSON.stringify({ n: 3 }) },
    ]);

    const blocked = await waitFor(() => runner.deadLetterCounts().find((c) => c.blockedPartitions === 1), { timeoutMs: 30_000, description: 'the partition reported blocked' });
    expect(blocked.failedDeadLetterWrites).toBeGreaterThanOrEqual(3);
    expect(blocked.deadLettered).toBe(0);
    expect(handled).toEqual([1]); // nothing behind the poison moved

    await alter(deadLetterTopic(topic), { 'max.message.bytes': '1048588' });
    await waitFor(() => handled.includes(3) || undefined, { timeoutMs: 90_000, description: 'the message behind the poison' });
    expect(handled).toEqual([1, 3]);
    expect(runner.deadLetterCounts()[0]).toMatchObject({ deadLettered: 1, blockedPartitions: 0 });
  });

  it('dead-letters a message at its source topic\'s size limit, which a topic with the broker\'s defaults would refuse with the reason headers', async () => {
    const prefix = uniquePrefix();
    const { admin, runner } = kit(prefix);
    const topic = `${prefix}big`;
    const definition: ConsumerDefinition<z.ZodType<{ n: number }>> = {
      groupId: `${prefix}big.handler`,
      topics: [topic],
      schema: z.strictObject({ n: z.number() }),
      description: 'item',
      handle: async (): Promise<HandlerOutcome> => 'processed',
    };
    running.push(runner.start(definition));
    await waitFor(() => runner.states()[0]?.state === 'running' || undefined, { timeoutMs: 30_000, description: 'the consumer to join' });
    // Just under the source topic's limit (the broker's default, 1048588 bytes per record batch).
    const poison = JSON.stringify({ n: 'x'.repeat(1_048_300) });
    await publish(topic, [{ key: 'p', value: poison }]);
    const counts = await waitFor(() => runner.deadLetterCounts().find((c) => c.deadLettered === 1 || c.failedDeadLetterWrites > 0), {
      timeoutMs: 30_000,
      description: 'the poison dead-lettered',
    });
    expect(counts).toMatchObject({ deadLettered: 1, failedDeadLetterWrites: 0 });
    // What happened before the dead-letter topics were sized: one with the broker's defaults refuses it.
    const defaults = `${prefix}defaults`;
    await admin.ensureTopics([defaults]);
    const headers = { [DeadLetterHeaders.reason]: 'r'.repeat(300), [DeadLetterHeaders.sourceTopic]: topic, [DeadLetterHeaders.consumerGroup]: definition.groupId };
    await expect(publish(defaults, [{ key: 'p', value: poison, headers }])).rejects.toThrow(/larger than the max message size/);
  });

  it('an upgrade loses nothing: unknown fields dropped, an unknown type parked, and applied by the upgraded consumer after a replay', async () => {
    const prefix = uniquePrefix();
    const { runner, deadLetters } = kit(prefix);
    const topic = `${prefix}facts`;
    const group = `${prefix}facts.handler`;
    const applied: { payload: unknown; context: MessageContext }[] = [];
    /** Contract version N knows `fact.made`; version N+1 adds `fact.unmade` (and the field `color`, which N ignores). */
    const consumer = (types: [string, ...string[]]): ConsumerDefinition<z.ZodType> => ({
      groupId: group,
      topics: [topic],
      schema: z.strictObject({ version: z.literal(1), type: z.enum(types), n: z.number(), detail: z.strictObject({ note: z.string() }) }),
      unknownKind: (value) => unknownKindOf(value, types),
      description: 'fact',
      handle: async (payload: unknown, context: MessageContext): Promise<HandlerOutcome> => {
        applied.push({ payload, context });
        return 'processed';
      },
    });
    const v1 = runner.start(consumer(['fact.made']));
    running.push(v1);
    await publish(topic, [
      { key: 'k1', value: JSON.stringify({ version: 1, type: 'fact.made', n: 1, color: 'red', detail: { note: 'a', shade: 'dark' } }) },
      { key: 'k2', value: JSON.stringify({ version: 1, type: 'fact.unmade', n: 2, detail: { note: 'b' } }), headers: { 'x-trace': 't2' } },
      { key: 'k3', value: JSON.stringify({ version: 2, type: 'fact.made', n: 3, detail: { note: 'c' } }) },
      // The input rule still holds for fields the consumer would drop: a NUL is dead-lettered.
      { key: 'k4', value: JSON.stringify({ version: 1, type: 'fact.made', n: 4, extra: 'nul\u0000', detail: { note: 'd' } }) },
      { key: 'k5', value: JSON.stringify({ version: 1, type: 'fact.made', n: 5, detail: { note: 'e' } }) },
    ]);
    await waitFor(() => applied.length === 2 || undefined, { timeoutMs: 30_000, description: 'facts 1 and 5' });
    // Unknown fields dropped at every depth, the rest validated strictly.
    expect(applied.map((a) => a.payload)).toEqual([
      { version: 1, type: 'fact.made', n: 1, detail: { note: 'a' } },
      { version: 1, type: 'fact.made', n: 5, detail: { note: 'e' } },
    ]);
    await waitFor(() => (v1.deadLetters().parked === 2 && v1.deadLetters().deadLettered === 1) || undefined, { description: 'two parked, one dead-lettered' });

    const page1 = await deadLetters.read('facts.dlq', { limit: 2 });
    expect(page1.records.map((r) => [r.key, r.headers[DeadLetterHeaders.code]])).toEqual([
      ['k2', PARKED_CODE],
      ['k3', PARKED_CODE],
    ]);
    expect(page1.records[0]?.headers[DeadLetterHeaders.reason]).toMatch(/type fact\.unmade/);
    expect(page1.records[1]?.headers[DeadLetterHeaders.reason]).toMatch(/contract version 2/);
    const page2 = await deadLetters.read('facts.dlq', { limit: 2, ...(page1.next && { after: page1.next }) });
    expect(page2.records.map((r) => [r.key, r.headers[DeadLetterHeaders.code]])).toEqual([['k4', 'invalid_input']]);
    expect(page2.next).toBeUndefined();

    // The upgrade: the same group, now with a contract that knows `fact.unmade`.
    await v1.stop();
    running.splice(running.indexOf(v1), 1);
    running.push(runner.start(consumer(['fact.made', 'fact.unmade'])));
    const parked = await deadLetters.get('facts.dlq', { partition: 0, offset: page1.records[0]!.offset });
    expect(await deadLetters.replay(parked!, 'replay-1')).toBe('facts');
    await waitFor(() => applied.length === 3 || undefined, { timeoutMs: 30_000, description: 'the replayed fact' });
    const replayed = applied[2]!;
    expect(replayed.payload).toEqual({ version: 1, type: 'fact.unmade', n: 2, detail: { note: 'b' } });
    expect(replayed.context.key).toBe('k2');
    expect(replayed.context.headers).toEqual({ 'x-trace': 't2', [ReplayHeaders.replayedFrom]: `${topic}.dlq/0/0`, [ReplayHeaders.replayId]: 'replay-1' });
  });
});
