import { Logger } from '@nestjs/common';
import type { EachBatchPayload, IHeaders, KafkaMessage } from 'kafkajs';
import type { z } from 'zod';
import { DeadLetterHeaders, deadLetterTopic } from '@app/contracts';
import { DomainError, InvalidInputError, classifyDatabaseError, describeError, isRetriable, parseOrThrow, sqlStateOf } from '@app/common';
import type { KafkaProducer } from './kafka-producer.js';

/** What a handler did with a message: always explicit, never silence. */
export type HandlerOutcome = 'processed' | 'duplicate' | 'skipped';

export interface MessageContext {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  headers: Record<string, string>;
}

export interface ConsumerDefinition<S extends z.ZodType> {
  /** Broker-level group id (already prefixed). */
  groupId: string;
  /** Broker-level topic names (already prefixed). */
  topics: string[];
  /** Topics to create, if missing, before subscribing (e.g. every topic of the contract); `topics` always are. */
  createTopics?: readonly string[];
  /** Validates each payload; a payload that fails goes to the dead-letter topic. */
  schema: S;
  /** What the payload is called in error messages, e.g. `email request`. */
  description: string;
  /** Partitions processed in parallel (order is kept within a partition). */
  concurrency?: number;
  /**
   * A message whose handler failed deterministically (a constraint violation, data the database
   * refuses) this many times in a row is dead-lettered. Default 5: a few tries guard against a
   * failure that only looked deterministic (a race on a unique key).
   */
  maxDeterministicFailures?: number;
  handle(payload: z.output<S>, context: MessageContext): Promise<HandlerOutcome>;
}

/** How a failed message is treated. */
export type FailureKind = 'poison' | 'deterministic' | 'transient';

/**
 * `poison`: can never succeed (not JSON, fails its schema, a non-retriable domain error):
 * dead-lettered at once. `deterministic`: the database refuses it the same way every time:
 * dead-lettered after a few attempts. `transient`: anything else (database or broker away,
 * lost races, unknown infrastructure errors): retried, never skipped.
 */
export function classifyFailure(error: unknown): FailureKind {
  if (!isRetriable(error)) return 'poison';
  return classifyDatabaseError(error) === 'deterministic' ? 'deterministic' : 'transient';
}

const DEFAULT_MAX_DETERMINISTIC_FAILURES = 5;
const RETRY_BASE_MS = 100;
const RETRY_MAX_MS = 5_000;

/**
 * Processes the batches of one consumer, one partition at a time, in order.
 *
 * Invariants:
 * - an offset is resolved (and so committed) only after `handle()` returned, i.e. after its
 *   effect was durably recorded: at-least-once, so handlers must be idempotent;
 * - a failed message is never retried inside the handler: its partition is paused and the batch
 *   returns, so kafkajs keeps heartbeating and a rebalance is never held up; the message is
 *   fetched again when the partition resumes (its offset was not resolved), by whichever member
 *   owns the partition then;
 * - the heartbeat's errors (rebalance in progress, not coordinator) propagate to kafkajs, which
 *   rejoins the group; a batch that went stale (seek, revoked) stops at once;
 * - poison is dead-lettered at once; a deterministic failure after `maxDeterministicFailures`
 *   attempts; a transient one is retried with capped exponential back-off forever. A message
 *   moves past only once its dead letter is acknowledged by the broker.
 */
export class PartitionProcessor<S extends z.ZodType> {
  private readonly logger = new Logger(PartitionProcessor.name);
  /** Consecutive failures of the message at the head of each partition. */
  private readonly failures = new Map<string, { offset: string; attempts: number }>();
  private readonly resumeTimers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly definition: ConsumerDefinition<S>,
    private readonly producer: KafkaProducer,
    private readonly stopping: AbortSignal,
  ) {}

  readonly eachBatch = async ({ batch, resolveOffset, heartbeat, isRunning, isStale, pause }: EachBatchPayload): Promise<void> => {
    const { topic, partition } = batch;
    for (const message of batch.messages) {
      if (!isRunning() || isStale() || this.stopping.aborted) return;
      const retryInMs = await this.processOnce(topic, partition, message);
      if (retryInMs === null) {
        resolveOffset(message.offset);
        await heartbeat();
        continue;
      }
      // Leave this message unresolved: the partition is fetched again from here once resumed.
      const resume = pause();
      const timer = setTimeout(() => {
        this.resumeTimers.delete(timer);
        resume();
      }, retryInMs);
      this.resumeTimers.add(timer);
      return;
    }
  };

  /** Stops the pending resumes; the paused partitions are handed back with the consumer. */
  close(): void {
    for (const timer of this.resumeTimers) clearTimeout(timer);
    this.resumeTimers.clear();
  }

  /** Handles one message once; returns null when it is done with (its offset may move), or the delay before the next try. */
  private async processOnce(topic: string, partition: number, message: KafkaMessage): Promise<number | null> {
    const context: MessageContext = {
      topic,
      partition,
      offset: message.offset,
      key: message.key?.toString('utf8') ?? null,
      headers: decodeHeaders(message.headers),
    };
    const slot = `${topic}:${partition}`;
    try {
      const payload = parseOrThrow(this.definition.schema, decodeJson(message), this.definition.description);
      await this.definition.handle(payload, context);
      this.failures.delete(slot);
      return null;
    } catch (error) {
      const previous = this.failures.get(slot);
      const attempts = previous?.offset === message.offset ? previous.attempts + 1 : 1;
      this.failures.set(slot, { offset: message.offset, attempts });
      const kind = classifyFailure(error);
      const limit = this.definition.maxDeterministicFailures ?? DEFAULT_MAX_DETERMINISTIC_FAILURES;
      if (kind === 'poison' || (kind === 'deterministic' && attempts >= limit)) {
        const reason = kind === 'poison' ? describeError(error) : `failed deterministically ${attempts} times: ${describeError(error)}`;
        try {
          await this.deadLetter(context, message, error, reason);
          this.failures.delete(slot);
          return null;
        } catch (deadLetterError) {
          // Not stored as a dead letter yet, so the offset must not move: try again later.
          this.logger.warn(`${topic}[${partition}]@${message.offset}: dead-lettering failed: ${describeError(deadLetterError)}`);
          return RETRY_MAX_MS;
        }
      }
      const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(attempts, 10));
      this.logger.warn(
        `${topic}[${partition}]@${message.offset}: attempt ${attempts} failed (${kind}), partition paused for ${delay} ms: ${describeError(error)}`,
      );
      return delay;
    }
  }

  private async deadLetter(context: MessageContext, message: KafkaMessage, error: unknown, reason: string): Promise<void> {
    const sqlState = sqlStateOf(error);
    const code = error instanceof DomainError ? error.code : sqlState ? `database.${sqlState}` : 'unknown';
    this.logger.warn(`${context.topic}[${context.partition}]@${context.offset} dead-lettered: ${reason}`);
    await this.producer.send([
      {
        topic: deadLetterTopic(context.topic),
        key: context.key ?? '',
        value: message.value ?? Buffer.alloc(0),
        headers: {
          ...context.headers,
          [DeadLetterHeaders.reason]: reason.slice(0, 4_000),
          [DeadLetterHeaders.code]: code,
          [DeadLetterHeaders.sourceTopic]: context.topic,
          [DeadLetterHeaders.sourcePartition]: String(context.partition),
          [DeadLetterHeaders.sourceOffset]: context.offset,
          [DeadLetterHeaders.consumerGroup]: this.definition.groupId,
        },
      },
    ]);
  }
}

export function decodeHeaders(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? value.map(String).join(',') : value.toString();
  }
  return out;
}

function decodeJson(message: KafkaMessage): unknown {
  const text = message.value?.toString('utf8') ?? '';
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InvalidInputError(`payload is not valid JSON (${describeError(error)})`);
  }
}
