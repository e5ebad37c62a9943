import { Injectable, Logger } from '@nestjs/common';
import type { Consumer, EachMessagePayload, IHeaders, KafkaMessage } from 'kafkajs';
import type { z } from 'zod';
import { DeadLetterHeaders, deadLetterTopic } from '@app/contracts';
import { DomainError, InvalidInputError, describeError, isRetriable, parseOrThrow, sleep } from '@app/common';
import { KafkaClient } from './kafka-client.js';
import { KafkaProducer } from './kafka-producer.js';

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
  /** Validates each payload; a payload that fails goes to the dead-letter topic. */
  schema: S;
  /** What the payload is called in error messages, e.g. `email request`. */
  description: string;
  /** Partitions processed in parallel (order is kept within a partition). */
  concurrency?: number;
  handle(payload: z.output<S>, context: MessageContext): Promise<HandlerOutcome>;
}

export interface RunningConsumer {
  /** Stops fetching, lets the in-flight messages finish (or hand them back), commits, disconnects. */
  stop(): Promise<void>;
}

interface LaunchedConsumer {
  consumer: Consumer;
  /** Settles with the error when kafkajs stops this consumer and will not restart it itself. */
  stoppedByCrash: Promise<unknown>;
}

/** Resolves once the signal aborts (for racing against other waits). */
function abortion(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/** The retry loop heartbeats after each wait, so a wait must stay well inside the session timeout. */
const MAX_RETRY_DELAY_MS = 3_000;

/**
 * Runs kafkajs consumers with the delivery rules this project relies on:
 *
 * - an offset is resolved (and so committed) only after `handle()` returned, i.e. after its
 *   effect is durably recorded: at-least-once, so handlers must be idempotent;
 * - a message that can never succeed (malformed JSON, failed validation, a non-retriable
 *   {@link DomainError}) is published to `<topic>.dlq` with the reason in headers, then skipped,
 *   so a poison message never blocks its partition;
 * - any other error is retried in place with capped exponential backoff, forever, never skipped;
 *   during shutdown the message is handed back uncommitted instead.
 *
 * kafkajs' own behaviour for a throwing `eachMessage` (crash, restart, re-read the same offset
 * forever) is never reached, and Nest's Kafka transport is not used, because it commits past
 * errors and unhandled events.
 */
@Injectable()
export class KafkaConsumerRunner {
  private readonly logger = new Logger(KafkaConsumerRunner.name);

  constructor(
    private readonly client: KafkaClient,
    private readonly producer: KafkaProducer,
  ) {}

  async start<S extends z.ZodType>(definition: ConsumerDefinition<S>): Promise<RunningConsumer> {
    const stopping = new AbortController();
    let current = await this.launch(definition, stopping.signal);
    this.logger.log(`consuming ${definition.topics.join(', ')} as ${definition.groupId}`);

    // kafkajs restarts a crashed consumer only when the error is retriable. Some errors seen
    // while a broker restarts are not ("Failed to find group coordinator"), and would leave the
    // consumer stopped for good while the process looks healthy. Replace it instead.
    const supervision = (async () => {
      for (;;) {
        const crash = await Promise.race([current.stoppedByCrash, abortion(stopping.signal)]);
        if (stopping.signal.aborted) return;
        this.logger.error(
          `${definition.groupId}: kafkajs stopped the consumer (${describeError(crash)}); starting a new one`,
        );
        current = await this.relaunch(definition, stopping.signal, current);
      }
    })();

    return {
      stop: async () => {
        stopping.abort();
        await supervision;
        await current.consumer.disconnect();
      },
    };
  }

  /** Connects, subscribes and runs one kafkajs consumer for the definition. */
  private async launch<S extends z.ZodType>(
    definition: ConsumerDefinition<S>,
    stopping: AbortSignal,
  ): Promise<LaunchedConsumer> {
    const consumer = this.client.kafka.consumer({
      groupId: definition.groupId,
      allowAutoTopicCreation: false,
      // A crashed instance's partitions move to the others after this long: short, so recovery
      // is quick, yet well above the longest pause between heartbeats (see MAX_RETRY_DELAY_MS).
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
    });
    const stoppedByCrash = new Promise<unknown>((resolve) => {
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        if (!payload.restart) resolve(payload.error);
      });
    });
    try {
      await consumer.connect();
      // A new group reads from the beginning: messages published before it first joined are not lost.
      await consumer.subscribe({ topics: definition.topics, fromBeginning: true });
      await consumer.run({
        autoCommit: true,
        partitionsConsumedConcurrently: definition.concurrency ?? 1,
        eachMessage: (payload) => this.processWithRetry(definition, payload, stopping),
      });
    } catch (error) {
      await consumer.disconnect().catch(() => undefined);
      throw error;
    }
    return { consumer, stoppedByCrash };
  }

  /** Replaces a consumer that kafkajs gave up on, retrying with backoff until it runs or we stop. */
  private async relaunch<S extends z.ZodType>(
    definition: ConsumerDefinition<S>,
    stopping: AbortSignal,
    crashed: LaunchedConsumer,
  ): Promise<LaunchedConsumer> {
    await crashed.consumer.disconnect().catch(() => undefined);
    for (let attempt = 1; ; attempt++) {
      await sleep(Math.min(MAX_RETRY_DELAY_MS, 250 * 2 ** Math.min(attempt, 10)), stopping);
      if (stopping.aborted) return crashed;
      try {
        const replacement = await this.launch(definition, stopping);
        this.logger.log(`${definition.groupId}: consumer running again after ${attempt} attempt(s)`);
        return replacement;
      } catch (error) {
        this.logger.warn(`${definition.groupId}: consumer restart ${attempt} failed: ${describeError(error)}`);
      }
    }
  }

  private async processWithRetry<S extends z.ZodType>(
    definition: ConsumerDefinition<S>,
    { topic, partition, message, heartbeat }: EachMessagePayload,
    stopping: AbortSignal,
  ): Promise<void> {
    const context: MessageContext = {
      topic,
      partition,
      offset: message.offset,
      key: message.key?.toString('utf8') ?? null,
      headers: decodeHeaders(message.headers),
    };
    for (let attempt = 1; ; attempt++) {
      try {
        const payload = parseOrThrow(definition.schema, decodeJson(message), definition.description);
        await definition.handle(payload, context);
        return;
      } catch (caught) {
        let error = caught;
        if (!isRetriable(error)) {
          try {
            await this.deadLetter(definition, context, message, error);
            return;
          } catch (deadLetterError) {
            // The dead letter is not stored yet, so the offset must not move: retry like any
            // transient failure (e.g. the broker is restarting).
            error = deadLetterError;
          }
        }
        if (stopping.aborted) throw error; // hand the message back uncommitted
        const delay = Math.min(MAX_RETRY_DELAY_MS, 100 * 2 ** Math.min(attempt, 10));
        this.logger.warn(
          `${topic}[${partition}]@${message.offset}: attempt ${attempt} failed, retrying in ${delay} ms: ${describeError(error)}`,
        );
        await sleep(delay, stopping);
        await heartbeat().catch(() => undefined); // a rebalance during the wait is handled by kafkajs
      }
    }
  }

  private async deadLetter(
    definition: ConsumerDefinition<z.ZodType>,
    context: MessageContext,
    message: KafkaMessage,
    error: unknown,
  ): Promise<void> {
    const code = error instanceof DomainError ? error.code : 'unknown';
    const reason = describeError(error).slice(0, 4_000);
    this.logger.warn(`${context.topic}[${context.partition}]@${context.offset} dead-lettered: ${reason}`);
    await this.producer.send([
      {
        topic: deadLetterTopic(context.topic),
        key: context.key ?? '',
        value: message.value ?? Buffer.alloc(0),
        headers: {
          ...context.headers,
          [DeadLetterHeaders.reason]: reason,
          [DeadLetterHeaders.code]: code,
          [DeadLetterHeaders.sourceTopic]: context.topic,
          [DeadLetterHeaders.sourcePartition]: String(context.partition),
          [DeadLetterHeaders.sourceOffset]: context.offset,
          [DeadLetterHeaders.consumerGroup]: definition.groupId,
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
