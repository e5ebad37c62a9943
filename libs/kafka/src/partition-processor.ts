import { Logger } from '@nestjs/common';
import type { Batch, EachBatchPayload, IHeaders, KafkaMessage } from 'kafkajs';
import type { z } from 'zod';
import { DeadLetterHeaders, deadLetterTopic } from '@app/contracts';
import { DomainError, InvalidInputError, TransientError, classifyDatabaseError, describeError, isRetriable, parseOrThrow, sqlStateOf } from '@app/common';
import { splitIntoRuns, type BatchStep, type ParsedMessage } from './batch-runs.js';
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

/** One message of a batch handed to `handleBatch`: its validated payload and where it came from. */
export interface BatchItem<T> {
  payload: T;
  context: MessageContext;
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
  /** Handles one message. One of `handle` and `handleBatch` is required. */
  handle?(payload: z.output<S>, context: MessageContext): Promise<HandlerOutcome>;
  /**
   * Handles a run of consecutive valid messages of one partition, in offset order, in one call
   * (e.g. one database transaction); used instead of `handle` when given.
   *
   * Contract: the call is atomic, all or nothing. When it throws, none of its effects may remain,
   * because the run is then handled again one message at a time (`handleBatch([item])`), with the
   * usual retry and dead-letter rules for the message that fails. It returns one outcome per
   * item, in the items' order.
   */
  handleBatch?(items: readonly BatchItem<z.output<S>>[]): Promise<HandlerOutcome[]>;
  /** Most messages handed to `handleBatch` in one call. Default 100. */
  maxBatchSize?: number;
}

/** Refuses a definition the processor cannot run (call before starting a consumer). */
export function assertConsumerDefinition(definition: ConsumerDefinition<z.ZodType>): void {
  if (!definition.handle && !definition.handleBatch) throw new Error(`${definition.groupId}: a consumer needs handle() or handleBatch()`);
  const { maxBatchSize } = definition;
  if (maxBatchSize !== undefined && !(Number.isInteger(maxBatchSize) && maxBatchSize >= 1)) {
    throw new Error(`${definition.groupId}: maxBatchSize must be a positive integer, got ${maxBatchSize}`);
  }
}

/** A batch handler returned something other than one outcome per item: a bug, retried so that nothing is committed unhandled. */
export class BatchOutcomeMismatchError extends TransientError {
  constructor(items: number, returned: unknown) {
    const got = Array.isArray(returned) ? `an array of ${returned.length}` : typeof returned;
    super(`handleBatch() was given ${items} messages and returned ${got}: it must return one outcome per message`);
  }
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
const DEFAULT_MAX_BATCH_SIZE = 100;
const RETRY_BASE_MS = 100;
const RETRY_MAX_MS = 5_000;

/** A fetched message with where it came from. */
interface Fetched {
  message: KafkaMessage;
  context: MessageContext;
}
interface ValidMessage<T> extends Fetched {
  payload: T;
}
interface InvalidMessage extends Fetched {
  error: unknown;
}

/**
 * What handling a step came to: done with up to `offset`; a message to retry after `delayMs` (its
 * offset stays unresolved); or smaller runs to handle in its place.
 */
type StepResult<T> = { kind: 'done'; offset: string } | { kind: 'retry'; delayMs: number } | { kind: 'split'; runs: BatchStep<ValidMessage<T>, InvalidMessage>[] };

/**
 * Processes the batches of one consumer, one partition at a time, in order.
 *
 * Messages go to the handler in runs: consecutive valid messages of a partition, at most
 * `maxBatchSize` of them, in one `handleBatch()` call; with `handle()` every run is one message.
 *
 * Invariants:
 * - an offset is resolved (and so committed) only after the handler returned for it and every
 *   message before it, i.e. after its effect was durably recorded: at-least-once, so handlers
 *   must be idempotent; a run's offsets are resolved together, once the call returned;
 * - a run whose call failed leaves nothing behind (the batch contract), so it is handled again
 *   one message at a time: the messages before the failing one are committed, the failing one
 *   alone is retried or dead-lettered, and nothing after it moves;
 * - a failed message is never retried inside the handler: its partition is paused and the batch
 *   returns, so kafkajs keeps heartbeating and a rebalance is never held up; the message is
 *   fetched again when the partition resumes (its offset was not resolved), by whichever member
 *   owns the partition then, and is tried alone before any run behind it;
 * - the heartbeat's errors (rebalance in progress, not coordinator) propagate to kafkajs, which
 *   rejoins the group; a batch that went stale (seek, revoked) stops at once, between runs;
 * - poison is dead-lettered at once (the run before it first); a deterministic failure after
 *   `maxDeterministicFailures` attempts of the message alone; a transient one is retried with
 *   capped exponential back-off forever. A message moves past only once its dead letter is
 *   acknowledged by the broker.
 */
export class PartitionProcessor<S extends z.ZodType> {
  private readonly logger = new Logger(PartitionProcessor.name);
  /** Consecutive failures of the message at the head of each partition. */
  private readonly failures = new Map<string, { offset: string; attempts: number }>();
  private readonly resumeTimers = new Set<NodeJS.Timeout>();
  private readonly handleRun: (items: readonly BatchItem<z.output<S>>[]) => Promise<HandlerOutcome[]>;
  private readonly maxBatchSize: number;

  constructor(
    private readonly definition: ConsumerDefinition<S>,
    private readonly producer: KafkaProducer,
    private readonly stopping: AbortSignal,
  ) {
    assertConsumerDefinition(definition);
    const { handle, handleBatch } = definition;
    if (handleBatch) {
      this.handleRun = (items) => handleBatch.call(definition, items);
      this.maxBatchSize = definition.maxBatchSize ?? DEFAULT_MAX_BATCH_SIZE;
    } else {
      // A single-message handler is a batch handler of runs of one.
      this.handleRun = async ([item]) => [await handle!.call(definition, item!.payload, item!.context)];
      this.maxBatchSize = 1;
    }
  }

  readonly eachBatch = async ({ batch, resolveOffset, heartbeat, isRunning, isStale, pause }: EachBatchPayload): Promise<void> => {
    const { topic, partition } = batch;
    const slot = `${topic}:${partition}`;
    for (const step of splitIntoRuns(this.parseEach(batch), this.maxBatchSize)) {
      // A failed run comes back split into runs of one, handled before the next step.
      const pending = [step];
      for (let current = pending.shift(); current; current = pending.shift()) {
        if (!isRunning() || isStale() || this.stopping.aborted) return;
        const result = await this.process(slot, current);
        if (result.kind === 'split') {
          pending.unshift(...result.runs);
          continue;
        }
        if (result.kind === 'done') {
          resolveOffset(result.offset);
          await heartbeat();
          continue;
        }
        // Leave this message unresolved: the partition is fetched again from here once resumed.
        const resume = pause();
        const timer = setTimeout(() => {
          this.resumeTimers.delete(timer);
          resume();
        }, result.delayMs);
        this.resumeTimers.add(timer);
        return;
      }
    }
  };

  /** Stops the pending resumes; the paused partitions are handed back with the consumer. */
  close(): void {
    for (const timer of this.resumeTimers) clearTimeout(timer);
    this.resumeTimers.clear();
  }

  /** Parses the batch's messages lazily, in offset order. */
  private *parseEach({ topic, partition, messages }: Batch): Generator<ParsedMessage<ValidMessage<z.output<S>>, InvalidMessage>> {
    for (const message of messages) yield this.parse(topic, partition, message);
  }

  private parse(topic: string, partition: number, message: KafkaMessage): ParsedMessage<ValidMessage<z.output<S>>, InvalidMessage> {
    const context: MessageContext = {
      topic,
      partition,
      offset: message.offset,
      key: message.key?.toString('utf8') ?? null,
      headers: decodeHeaders(message.headers),
    };
    try {
      const payload = parseOrThrow(this.definition.schema, decodeJson(message), this.definition.description);
      return { valid: true, value: { message, context, payload } };
    } catch (error) {
      return { valid: false, value: { message, context, error } };
    }
  }

  /** Handles one step once. */
  private async process(slot: string, step: BatchStep<ValidMessage<z.output<S>>, InvalidMessage>): Promise<StepResult<z.output<S>>> {
    if (step.kind === 'invalid') return this.settleFailure(slot, step.item, step.item.error);
    const [head, ...rest] = step.items;
    if (!head) throw new Error('an empty run'); // splitIntoRuns never yields one
    // A message that already failed is tried alone: the run behind it waits until it is done with.
    if (rest.length > 0 && this.failures.get(slot)?.offset === head.context.offset) return { kind: 'split', runs: [runOf([head]), runOf(rest)] };
    const last = step.items.at(-1)!;
    try {
      const items = step.items.map(({ payload, context }) => ({ payload, context }));
      const outcomes: unknown = await this.handleRun(items);
      if (!Array.isArray(outcomes) || outcomes.length !== items.length) throw new BatchOutcomeMismatchError(items.length, outcomes);
      this.failures.delete(slot);
      return { kind: 'done', offset: last.context.offset };
    } catch (error) {
      if (rest.length === 0) return this.settleFailure(slot, head, error);
      // The call left nothing behind (the batch contract): find the failing message alone.
      this.logger.warn(
        `${head.context.topic}[${head.context.partition}]@${head.context.offset}..${last.context.offset}: batch of ${step.items.length} failed, handling its messages one at a time: ${describeError(error)}`,
      );
      return { kind: 'split', runs: step.items.map((item) => runOf([item])) };
    }
  }

  /** Counts the failure of one message; dead-letters it (done with) or says when to retry it. */
  private async settleFailure(slot: string, { message, context }: Fetched, error: unknown): Promise<StepResult<z.output<S>>> {
    const { topic, partition } = context;
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
        return { kind: 'done', offset: message.offset };
      } catch (deadLetterError) {
        // Not stored as a dead letter yet, so the offset must not move: try again later.
        this.logger.warn(`${topic}[${partition}]@${message.offset}: dead-lettering failed: ${describeError(deadLetterError)}`);
        return { kind: 'retry', delayMs: RETRY_MAX_MS };
      }
    }
    const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(attempts, 10));
    this.logger.warn(
      `${topic}[${partition}]@${message.offset}: attempt ${attempts} failed (${kind}), partition paused for ${delay} ms: ${describeError(error)}`,
    );
    return { kind: 'retry', delayMs: delay };
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

function runOf<V>(items: V[]): BatchStep<V, never> {
  return { kind: 'run', items };
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
