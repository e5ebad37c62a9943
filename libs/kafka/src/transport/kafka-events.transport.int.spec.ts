import 'reflect-metadata';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  Controller,
  Injectable,
  Module,
  UseInterceptors,
  UsePipes,
  type CallHandler,
  type DynamicModule,
  type INestApplication,
  type NestInterceptor,
  type PipeTransform,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, Payload } from '@nestjs/microservices';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { tap, type Observable } from 'rxjs';
import { z } from 'zod';
import { DeadLetterHeaders, deadLetterTopic } from '@app/contracts';
import { DomainError, TransientError, sleep } from '@app/common';
import { TopicReaders, waitFor } from '@app/testing';
import { KafkaModule } from '../kafka.module.js';
import { KafkaConsumerRunner } from '../kafka-consumer.js';
import type { HandlerOutcome } from '../partition-processor.js';
import { KafkaEvent } from './kafka-event.decorator.js';
import type { KafkaEventContext } from './kafka-event.context.js';
import { KafkaEventsTransport } from './kafka-events.transport.js';

const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const TOPIC = 'items';
const GROUP = 'items.handler';

const itemSchema = z.object({ n: z.number(), behaviour: z.enum(['ok', 'transient', 'domain', 'failing']).default('ok') });
type Item = z.output<typeof itemSchema>;

class ItemRejectedError extends DomainError {
  readonly code = 'test.item_rejected';
  readonly retriable = false;
}

/** What the handler saw and did, shared with the test (one test at a time). */
const log = {
  processed: [] as { n: number; tagged: boolean; topic: string; offset: string }[],
  attempts: new Map<number, number>(),
  intercepted: 0,
  /** While false, `failing` items fail transiently on every try. */
  failingHeals: false,
  reset(): void {
    this.processed = [];
    this.attempts = new Map();
    this.intercepted = 0;
    this.failingHeals = false;
  },
};

class TaggingPipe implements PipeTransform {
  transform(value: unknown): unknown {
    return typeof value === 'object' && value !== null && 'n' in value ? { ...value, tagged: true } : value;
  }
}

@Injectable()
class CountingInterceptor implements NestInterceptor {
  intercept(_context: unknown, next: CallHandler): Observable<unknown> {
    log.intercepted++;
    return next.handle().pipe(tap(() => undefined));
  }
}

@Controller()
@UseInterceptors(CountingInterceptor)
class ItemsController {
  @KafkaEvent(TOPIC, { group: GROUP, schema: itemSchema, description: 'item', createTopics: [TOPIC] })
  @UsePipes(new TaggingPipe())
  handle(@Payload() item: Item & { tagged?: boolean }, @Ctx() context: KafkaEventContext): HandlerOutcome {
    const attempt = (log.attempts.get(item.n) ?? 0) + 1;
    log.attempts.set(item.n, attempt);
    if (item.behaviour === 'transient' && attempt <= 2) throw new TransientError(`item ${item.n}: database unavailable`);
    if (item.behaviour === 'domain') throw new ItemRejectedError(`item ${item.n} can never be accepted`);
    if (item.behaviour === 'failing' && !log.failingHeals) throw new TransientError(`item ${item.n}: still unavailable`);
    log.processed.push({ n: item.n, tagged: item.tagged === true, topic: context.getTopic(), offset: context.getOffset() });
    return 'processed';
  }
}

@Module({})
class ItemsModule {
  static forPrefix(topicPrefix: string): DynamicModule {
    return {
      module: ItemsModule,
      imports: [KafkaModule.forRoot({ brokers: BROKERS, clientId: 'transport-int', topicPrefix, partitions: 1 })],
      controllers: [ItemsController],
      providers: [CountingInterceptor],
    };
  }
}

const BATCH_GROUP = 'items.batch-handler';

/** What the batch handler saw, shared with the test (one test at a time). */
const batchLog = {
  calls: [] as { ns: number[]; offsets: string[] }[],
  /** Items handled, in the order their calls succeeded. */
  processed: [] as number[],
  attempts: new Map<number, number>(),
  reset(): void {
    this.calls = [];
    this.processed = [];
    this.attempts = new Map();
  },
};

@Controller()
@UseInterceptors(CountingInterceptor)
class BatchItemsController {
  /** All or nothing, as the batch contract asks: an item is recorded only when the whole call succeeds. */
  @KafkaEvent(TOPIC, { group: BATCH_GROUP, schema: itemSchema, description: 'item', createTopics: [TOPIC], batch: true, maxBatchSize: 50 })
  handle(@Payload() items: Item[], @Ctx() context: KafkaEventContext): Promise<HandlerOutcome[]> {
    batchLog.calls.push({ ns: items.map((i) => i.n), offsets: context.getMessages().map((m) => m.offset) });
    for (const item of items) {
      const attempt = (batchLog.attempts.get(item.n) ?? 0) + 1;
      batchLog.attempts.set(item.n, attempt);
      if (item.behaviour === 'transient' && attempt <= 2) return Promise.reject(new TransientError(`item ${item.n}: database unavailable`));
    }
    batchLog.processed.push(...items.map((i) => i.n));
    return Promise.resolve(items.map(() => 'processed'));
  }
}

@Module({})
class BatchItemsModule {
  static forPrefix(topicPrefix: string): DynamicModule {
    return {
      module: BatchItemsModule,
      imports: [KafkaModule.forRoot({ brokers: BROKERS, clientId: 'transport-int', topicPrefix, partitions: 1 })],
      controllers: [BatchItemsController],
      providers: [CountingInterceptor],
    };
  }
}

/**
 * `@KafkaEvent()` handlers served by `KafkaEventsTransport` in a Nest app on the real broker (a
 * unique topic prefix per test): commits, dead letters, retries without skipping, Nest's pipes and
 * interceptors, and hand-back on close.
 */
describe('KafkaEventsTransport (Kafka)', () => {
  const raw = new Kafka({ clientId: 'transport-int-raw', brokers: BROKERS, logLevel: logLevel.NOTHING });
  let admin: Admin;
  const apps: INestApplication[] = [];
  const readers = new TopicReaders(raw);

  beforeAll(async () => {
    admin = raw.admin();
    await admin.connect();
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
    await readers.close();
    log.reset();
    batchLog.reset();
  });
  afterAll(async () => {
    await admin.disconnect();
  });

  const uniquePrefix = (): string => `transport-int-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}.`;

  async function startApp(prefix: string, module: DynamicModule = ItemsModule.forPrefix(prefix)): Promise<INestApplication> {
    const app = await NestFactory.create(module, { logger: false });
    app.connectMicroservice({ strategy: app.get(KafkaEventsTransport) });
    await app.init();
    await app.startAllMicroservices();
    apps.push(app);
    return app;
  }

  async function publish(topic: string, values: string[]): Promise<void> {
    await admin.createTopics({ waitForLeaders: true, topics: [topic, deadLetterTopic(topic)].map((t) => ({ topic: t, numPartitions: 1 })) });
    const producer = raw.producer();
    await producer.connect();
    await producer.send({ topic, messages: values.map((value, i) => ({ key: `k${i}`, value })) });
    await producer.disconnect();
  }

  async function committedOffset(groupId: string, topic: string): Promise<string> {
    const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return entry?.partitions[0]?.offset ?? '-1';
  }


  it('handles and commits; dead-letters invalid payloads and domain rejections; retries a transient failure without skipping', async () => {
    const prefix = uniquePrefix();
    const topic = `${prefix}${TOPIC}`;
    await publish(topic, [
      JSON.stringify({ n: 1 }),
      JSON.stringify({ n: 'not a number' }),
      JSON.stringify({ n: 3, behaviour: 'transient' }),
      JSON.stringify({ n: 4, behaviour: 'domain' }),
      JSON.stringify({ n: 5 }),
    ]);
    const app = await startApp(prefix);

    await waitFor(() => log.processed.length === 3 || undefined, { timeoutMs: 30_000, description: 'items 1, 3 and 5' });
    // In order: 3 failed twice and was retried before 5 was handled (not skipped).
    expect(log.processed.map((p) => p.n)).toEqual([1, 3, 5]);
    expect(log.attempts.get(3)).toBe(3);
    expect(log.attempts.get(4)).toBe(1);
    // The method's pipe and the controller's interceptor ran; the context names the broker topic.
    expect(log.processed.every((p) => p.tagged && p.topic === topic)).toBe(true);
    expect(log.processed.map((p) => p.offset)).toEqual(['0', '2', '4']);
    // Every call went through Nest: 1, 3 (three tries), 4, 5; the invalid payload never reached it.
    expect(log.intercepted).toBe(6);
    await waitFor(async () => (await committedOffset(`${prefix}${GROUP}`, topic)) === '5' || undefined, {
      timeoutMs: 15_000,
      description: 'every offset committed',
    });

    const deadLetters = await readers.readAll(deadLetterTopic(topic), 2, '2 dead letters');
    expect(deadLetters.map((d) => d.headers[DeadLetterHeaders.sourceOffset])).toEqual(['1', '3']);
    expect(deadLetters[0]).toMatchObject({
      value: JSON.stringify({ n: 'not a number' }),
      headers: { [DeadLetterHeaders.code]: 'invalid_input', [DeadLetterHeaders.consumerGroup]: `${prefix}${GROUP}` },
    });
    expect(deadLetters[0]?.headers[DeadLetterHeaders.reason]).toMatch(/^InvalidInputError: item is invalid: n: /);
    expect(deadLetters[1]?.headers[DeadLetterHeaders.code]).toBe('test.item_rejected');
    expect(deadLetters[1]?.headers[DeadLetterHeaders.reason]).toMatch(/item 4 can never be accepted/);

    // Health reads the same runner the transport started its consumer with.
    expect(app.get(KafkaConsumerRunner).states()).toEqual([{ groupId: `${prefix}${GROUP}`, state: 'running' }]);
  });

  it('close() hands a message still failing back uncommitted: the next instance of the group handles it', async () => {
    const prefix = uniquePrefix();
    const topic = `${prefix}${TOPIC}`;
    await publish(topic, [JSON.stringify({ n: 1 }), JSON.stringify({ n: 2, behaviour: 'failing' }), JSON.stringify({ n: 3 })]);
    const first = await startApp(prefix);
    await waitFor(() => (log.attempts.get(2) ?? 0) >= 2 || undefined, { timeoutMs: 30_000, description: 'item 2 to fail twice' });
    await first.close();
    apps.splice(apps.indexOf(first), 1);
    expect(log.processed.map((p) => p.n)).toEqual([1]);
    expect(first.get(KafkaConsumerRunner).states()).toEqual([]);
    expect(await committedOffset(`${prefix}${GROUP}`, topic)).toBe('1');

    log.failingHeals = true;
    await startApp(prefix);
    await waitFor(() => log.processed.length === 3 || undefined, { timeoutMs: 30_000, description: 'items 2 and 3 after the hand-back' });
    await sleep(300);
    expect(log.processed.map((p) => p.n)).toEqual([1, 2, 3]);
  });

  it('a batch: true handler gets the backlog in arrays, through Nest; poison is dead-lettered, a failed batch falls back, all committed once', async () => {
    const prefix = uniquePrefix();
    const topic = `${prefix}${TOPIC}`;
    const ns = Array.from({ length: 12 }, (_, i) => i + 1);
    await publish(
      topic,
      ns.map((n) => JSON.stringify(n === 6 ? { n: 'not a number' } : n === 9 ? { n, behaviour: 'transient' } : { n })),
    );
    await startApp(prefix, BatchItemsModule.forPrefix(prefix));

    const expected = ns.filter((n) => n !== 6);
    await waitFor(() => batchLog.processed.length === expected.length || undefined, { timeoutMs: 30_000, description: 'the 11 valid items' });
    // Each item once, in order, some of them several to a call.
    expect(batchLog.processed).toEqual(expected);
    expect(batchLog.calls.some((call) => call.ns.length > 1)).toBe(true);
    // The context lists each payload's message; no call spans the poison (offset 5).
    expect(batchLog.calls.every((call) => call.offsets.every((o, i) => Number(o) === call.ns[i]! - 1))).toBe(true);
    expect(batchLog.calls.every((call) => call.ns.every((n) => n < 6) || call.ns.every((n) => n > 6))).toBe(true);
    // 9 failed inside a batch, failed again alone, and succeeded alone after the pause.
    expect(batchLog.attempts.get(9)).toBe(3);
    expect(batchLog.calls.filter((call) => call.ns.length === 1 && call.ns[0] === 9)).toHaveLength(2);
    // Every call went through Nest's interceptor.
    expect(log.intercepted).toBe(batchLog.calls.length);
    await waitFor(async () => (await committedOffset(`${prefix}${BATCH_GROUP}`, topic)) === '12' || undefined, {
      timeoutMs: 15_000,
      description: 'every offset committed',
    });
    const deadLetters = await readers.readAll(deadLetterTopic(topic), 1, '1 dead letter');
    expect(deadLetters[0]).toMatchObject({ value: JSON.stringify({ n: 'not a number' }), headers: { [DeadLetterHeaders.sourceOffset]: '5', [DeadLetterHeaders.code]: 'invalid_input' } });
  });
});
