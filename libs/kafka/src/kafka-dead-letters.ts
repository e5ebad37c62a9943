import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { DeadLetterHeaders, ReplayHeaders, isDeadLetterTopic, sourceTopicOf } from '@app/contracts';
import { UnprocessableRequestError, describeError } from '@app/common';
import { KafkaClient } from './kafka-client.js';
import { KafkaProducer } from './kafka-producer.js';
import { KafkaTopics } from './kafka-topics.js';
import { decodeHeaders } from './partition-processor.js';

/** Where a message sits in a topic. Offsets are strings: Kafka's are 64-bit. */
export interface TopicPosition {
  partition: number;
  offset: string;
}

/** A message read back from a dead-letter topic, as it was written (value as bytes). */
export interface DeadLetterRecord extends TopicPosition {
  /** Broker-level name of the dead-letter topic. */
  topic: string;
  key: string | null;
  /** When the dead letter was written (the record's timestamp). */
  timestamp: Date;
  headers: Record<string, string>;
  value: Buffer;
}

/** A dead-letter topic of this deployment and how many messages it holds. */
export interface DeadLetterTopicSummary {
  /** Logical name (without the deployment's prefix), e.g. `mail.events.dlq`. */
  topic: string;
  /** Messages still retained, over every partition. */
  messages: number;
}

/** A dead letter that cannot be replayed as asked (it names another source topic than its own). */
export class DeadLetterNotReplayableError extends UnprocessableRequestError {
  readonly code = 'dead_letter_not_replayable';
}

/** How long one read may take, group join included, before it gives up. */
const READ_TIMEOUT_MS = 20_000;

/**
 * Reads and replays the dead-letter topics (`<topic>.dlq`) of this deployment (its topic prefix).
 *
 * Reading never moves a consumer group's offsets: each read is a consumer group of its own, used
 * once and deleted, that seeks to the positions asked for. kafkajs has no group-less fetch, so a
 * read costs a group join (the broker's `group.initial.rebalance.delay.ms`, 3 s by default).
 *
 * A replay publishes the dead letter to the topic it was dead-lettered from (that topic only),
 * with its original key and value, its original headers without the `x-dead-letter-*` ones, and a
 * replay marker (`x-replayed-from`, `x-replay-id`). Consumers are idempotent, so replaying a
 * message that was in fact applied changes nothing.
 */
@Injectable()
export class KafkaDeadLetters {
  private readonly logger = new Logger(KafkaDeadLetters.name);

  constructor(
    private readonly client: KafkaClient,
    private readonly producer: KafkaProducer,
    private readonly names: KafkaTopics,
  ) {}

  /** The dead-letter topics under this deployment's prefix, with their message counts. */
  async topics(): Promise<DeadLetterTopicSummary[]> {
    const admin = this.client.kafka.admin();
    await admin.connect();
    try {
      const prefix = this.names.name('');
      const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix) && isDeadLetterTopic(t)).sort();
      const summaries: DeadLetterTopicSummary[] = [];
      for (const topic of topics) {
        const offsets = await admin.fetchTopicOffsets(topic);
        summaries.push({ topic: topic.slice(prefix.length), messages: offsets.reduce((n, o) => n + Number(BigInt(o.high) - BigInt(o.low)), 0) });
      }
      return summaries;
    } finally {
      await admin.disconnect();
    }
  }

  /**
   * Up to `limit` messages of the dead-letter topic `logical` (e.g. `mail.events.dlq`) after
   * `after`, in (partition, offset) order, and the position to continue from (undefined: no more).
   */
  async read(logical: string, { limit, after }: { limit: number; after?: TopicPosition }): Promise<{ records: DeadLetterRecord[]; next?: TopicPosition }> {
    const topic = this.deadLetterTopic(logical);
    const ranges = (await this.offsets(topic))
      .filter((o) => !after || o.partition >= after.partition)
      .map((o) => {
        const start = after && o.partition === after.partition ? max(o.low, BigInt(after.offset) + 1n) : o.low;
        // No partition can contribute more than the page (plus the one that says there is more).
        const stop = min(o.high, start + BigInt(limit + 1));
        return { partition: o.partition, start, stop };
      })
      .filter((r) => r.start < r.stop);
    const records = (await this.fetch(topic, ranges)).sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
    const page = records.slice(0, limit);
    const last = page.at(-1);
    return records.length > limit && last ? { records: page, next: { partition: last.partition, offset: last.offset } } : { records: page };
  }

  /** The message at `position` of the dead-letter topic `logical`, or undefined when there is none (any more). */
  async get(logical: string, position: TopicPosition): Promise<DeadLetterRecord | undefined> {
    const topic = this.deadLetterTopic(logical);
    const partition = (await this.offsets(topic)).find((o) => o.partition === position.partition);
    const offset = BigInt(position.offset);
    if (!partition || offset < partition.low || offset >= partition.high) return undefined;
    const [record] = await this.fetch(topic, [{ partition: position.partition, start: offset, stop: offset + 1n }]);
    return record;
  }

  /**
   * Publishes `record` to its source topic (see the class comment); resolves once the broker
   * acknowledged it. `replayId` goes in the `x-replay-id` header. Returns the source topic (logical).
   */
  async replay(record: DeadLetterRecord, replayId: string): Promise<string> {
    const source = sourceTopicOf(record.topic);
    const named = record.headers[DeadLetterHeaders.sourceTopic];
    if (named !== undefined && named !== source) {
      throw new DeadLetterNotReplayableError(`this dead letter names ${named} as its source, not ${source}: it was not written by this deployment's consumers`);
    }
    const deadLetterHeaders = new Set<string>(Object.values(DeadLetterHeaders));
    const headers = Object.fromEntries(Object.entries(record.headers).filter(([name]) => !deadLetterHeaders.has(name)));
    headers[ReplayHeaders.replayedFrom] = `${record.topic}/${record.partition}/${record.offset}`;
    headers[ReplayHeaders.replayId] = replayId;
    await this.producer.send([{ topic: source, key: record.key ?? '', value: record.value, headers }]);
    this.logger.log(`replayed ${record.topic}[${record.partition}]@${record.offset} to ${source} (replay ${replayId})`);
    return source.slice(this.names.name('').length);
  }

  private deadLetterTopic(logical: string): string {
    if (!isDeadLetterTopic(logical)) throw new DeadLetterNotReplayableError(`${logical} is not a dead-letter topic (<topic>.dlq)`);
    return this.names.name(logical);
  }

  private async offsets(topic: string): Promise<{ partition: number; low: bigint; high: bigint }[]> {
    const admin = this.client.kafka.admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      return offsets.map((o) => ({ partition: o.partition, low: BigInt(o.low), high: BigInt(o.high) })).sort((a, b) => a.partition - b.partition);
    } finally {
      await admin.disconnect();
    }
  }

  /** Reads `[start, stop)` of each partition in a throw-away consumer group. */
  private async fetch(topic: string, ranges: readonly { partition: number; start: bigint; stop: bigint }[]): Promise<DeadLetterRecord[]> {
    if (ranges.length === 0) return [];
    const groupId = this.names.group(`dead-letters.reader.${randomUUID()}`);
    const consumer = this.client.kafka.consumer({ groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 250 });
    const wanted = new Map(ranges.map((r) => [r.partition, r]));
    const records: DeadLetterRecord[] = [];
    const pending = new Set(wanted.keys());
    let finished!: () => void;
    const done = new Promise<void>((resolve) => (finished = resolve));
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: false });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        eachBatch: async ({ batch }) => {
          const range = wanted.get(batch.partition);
          if (!range || !pending.has(batch.partition)) return;
          for (const message of batch.messages) {
            const offset = BigInt(message.offset);
            if (offset < range.start) continue;
            if (offset >= range.stop) break;
            records.push({
              topic,
              partition: batch.partition,
              offset: message.offset,
              key: message.key?.toString('utf8') ?? null,
              timestamp: new Date(Number(message.timestamp)),
              headers: decodeHeaders(message.headers),
              value: message.value ?? Buffer.alloc(0),
            });
          }
          const lastOffset = batch.messages.at(-1)?.offset;
          if (lastOffset !== undefined && BigInt(lastOffset) >= range.stop - 1n) pending.delete(batch.partition);
          if (pending.size === 0) finished();
        },
      });
      for (const range of ranges) consumer.seek({ topic, partition: range.partition, offset: range.start.toString() });
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`reading ${topic} took over ${READ_TIMEOUT_MS} ms`)), READ_TIMEOUT_MS);
      });
      try {
        await Promise.race([done, timeout]);
      } finally {
        clearTimeout(timer);
      }
      return records;
    } finally {
      await consumer.disconnect().catch(() => undefined);
      await this.deleteGroup(groupId);
    }
  }

  private async deleteGroup(groupId: string): Promise<void> {
    const admin = this.client.kafka.admin();
    try {
      await admin.connect();
      await admin.deleteGroups([groupId]);
    } catch (error) {
      // An empty group with no offsets expires by itself; only the broker's group list is untidy meanwhile.
      this.logger.debug(`could not delete the reader group ${groupId}: ${describeError(error)}`);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}

const max = (a: bigint, b: bigint): bigint => (a > b ? a : b);
const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);
