import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { z } from 'zod';
import { DeadLetterHeaders } from '@app/contracts';
import { NotFoundError, encodeCursor, type Page, type PageRequest } from '@app/common';
import { KafkaDeadLetters, KafkaTopics, type DeadLetterRecord, type DeadLetterTopicSummary, type TopicPosition } from '@app/kafka';
import { OutboxDeadLetters, type OutboxDeadLetter, type OutboxDeadLetterDetail } from '@app/outbox';
import { DeadLetterReplaysRepository, type DeadLetterReplay, type ReplayActor } from './dead-letter-replays.repository.js';

export class DeadLetterNotFoundError extends NotFoundError {
  readonly code = 'dead_letter_not_found';
}

/** The cursor of a dead-letter topic's list: the last (partition, offset) of the page before. */
export const positionCursorSchema = z.object({ partition: z.number().int().min(0), offset: z.string().regex(/^\d{1,19}$/) });

/** A dead letter as the operator API shows it: where it is, why it is there, where it came from. */
export interface DeadLetterSummary {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  deadLetteredAt: string;
  /** `x-dead-letter-code`: a stable code; `unknown_type` = parked for replay after an upgrade. */
  code: string | null;
  reason: string | null;
  sourceTopic: string | null;
  sourcePartition: number | null;
  sourceOffset: string | null;
  consumerGroup: string | null;
  bytes: number;
}

/** With the message itself: its headers and value (UTF-8 text, or base64 when it is not text). */
export interface DeadLetterDetail extends DeadLetterSummary {
  headers: Record<string, string>;
  value: string | null;
  valueBase64: string | null;
}

/**
 * Lists, shows and replays dead letters: the Kafka `.dlq` topics of this deployment and this
 * app's outbox dead letters. Every replay is recorded (`dead_letter_replays`) before it is made
 * and the record taken back when it fails, so a replay that happened is always on record.
 */
@Injectable()
export class DeadLettersService {
  constructor(
    private readonly kafka: KafkaDeadLetters,
    private readonly names: KafkaTopics,
    private readonly outbox: OutboxDeadLetters,
    private readonly replays: DeadLetterReplaysRepository,
  ) {}

  topics(): Promise<DeadLetterTopicSummary[]> {
    return this.kafka.topics();
  }

  /** A page of the dead-letter topic `topic` (logical), in (partition, offset) order; `code` keeps only those with that code. */
  async list(topic: string, { limit, after }: PageRequest<TopicPosition>, code?: string): Promise<Page<DeadLetterSummary>> {
    const { records, next } = await this.kafka.read(topic, { limit, ...(after && { after }) });
    const items = records.filter((r) => code === undefined || r.headers[DeadLetterHeaders.code] === code).map((r) => this.summary(topic, r));
    // A filtered page may hold fewer than `limit` items: the cursor is where the reading stopped.
    return { items, nextCursor: next ? encodeCursor(next) : null };
  }

  async get(topic: string, position: TopicPosition): Promise<DeadLetterDetail> {
    const record = await this.kafka.get(topic, position);
    if (!record) throw new DeadLetterNotFoundError(`no message at ${topic} partition ${position.partition} offset ${position.offset} (never written, or past the topic's retention)`);
    const text = decodeUtf8(record.value);
    return { ...this.summary(topic, record), headers: record.headers, value: text ?? null, valueBase64: text === undefined ? record.value.toString('base64') : null };
  }

  /** Publishes the dead letter to its source topic again (see `KafkaDeadLetters.replay`) and records who did. */
  async replay(topic: string, position: TopicPosition, actor: ReplayActor): Promise<DeadLetterReplay> {
    const record = await this.kafka.get(topic, position);
    if (!record) throw new DeadLetterNotFoundError(`no message at ${topic} partition ${position.partition} offset ${position.offset}`);
    const recorded = await this.replays.record(
      {
        id: randomUUID(),
        origin: 'kafka',
        deadLetterTopic: topic,
        deadLetterPartition: position.partition,
        deadLetterOffset: position.offset,
        targetTopic: topic.slice(0, -'.dlq'.length),
        key: record.key,
      },
      actor,
    );
    try {
      await this.kafka.replay(record, recorded.id);
    } catch (error) {
      await this.replays.forget(recorded.id);
      throw error;
    }
    return recorded;
  }

  outboxList(page: PageRequest<string>): Promise<Page<OutboxDeadLetter>> {
    return this.outbox.page(page);
  }

  async outboxGet(id: string): Promise<OutboxDeadLetterDetail> {
    const row = await this.outbox.get(id);
    if (!row) throw new DeadLetterNotFoundError(`no outbox dead letter ${id}`);
    return row;
  }

  /** Puts the outbox row back in line for the relay (`OutboxDeadLetters.requeue`) and records who did. */
  async outboxReplay(id: string, actor: ReplayActor): Promise<DeadLetterReplay> {
    const row = await this.outbox.get(id);
    if (!row) throw new DeadLetterNotFoundError(`no outbox dead letter ${id}`);
    const prefix = this.names.name('');
    const targetTopic = row.topic.startsWith(prefix) ? row.topic.slice(prefix.length) : row.topic;
    const recorded = await this.replays.record({ id: randomUUID(), origin: 'outbox', outboxId: id, targetTopic, key: row.key }, actor);
    const requeued = await this.outbox.requeue([id]).catch(async (error: unknown) => {
      await this.replays.forget(recorded.id);
      throw error;
    });
    if (requeued.length === 0) {
      // Requeued by someone else in the meantime.
      await this.replays.forget(recorded.id);
      throw new DeadLetterNotFoundError(`no outbox dead letter ${id}`);
    }
    return recorded;
  }

  listReplays(page: PageRequest<{ at: string; id: string }>): Promise<Page<DeadLetterReplay>> {
    return this.replays.list(page);
  }

  private summary(topic: string, r: DeadLetterRecord): DeadLetterSummary {
    const h = r.headers;
    const prefix = this.names.name('');
    const source = h[DeadLetterHeaders.sourceTopic];
    const partition = h[DeadLetterHeaders.sourcePartition];
    return {
      topic,
      partition: r.partition,
      offset: r.offset,
      key: r.key,
      deadLetteredAt: r.timestamp.toISOString(),
      code: h[DeadLetterHeaders.code] ?? null,
      reason: h[DeadLetterHeaders.reason] ?? null,
      sourceTopic: source === undefined ? null : source.startsWith(prefix) ? source.slice(prefix.length) : source,
      sourcePartition: partition === undefined ? null : Number(partition),
      sourceOffset: h[DeadLetterHeaders.sourceOffset] ?? null,
      consumerGroup: h[DeadLetterHeaders.consumerGroup] ?? null,
      bytes: r.value.length,
    };
  }
}

/** The bytes as text when they are valid UTF-8, else undefined. */
function decodeUtf8(bytes: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}
