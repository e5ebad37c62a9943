import { Injectable } from '@nestjs/common';
import { Server, type CustomTransportStrategy, type MessageHandler } from '@nestjs/microservices';
import type { z } from 'zod';
import { TransientError } from '@app/common';
import { KafkaConsumerRunner, type RunningConsumer } from '../kafka-consumer.js';
import { KafkaTopics } from '../kafka-topics.js';
import type { BatchItem, ConsumerDefinition, MessageContext } from '../partition-processor.js';
import { invokeBatchEventHandler, invokeEventHandler } from './event-handler-invocation.js';
import { KAFKA_EVENTS_TRANSPORT, KAFKA_EVENT_EXTRAS, type KafkaEventOptions } from './kafka-event.decorator.js';
import { KafkaEventContext } from './kafka-event.context.js';

interface Registration {
  topic: string;
  handler: MessageHandler;
  options: KafkaEventOptions;
}

/** Settings of a handler that are only known at run time (module options). */
export interface KafkaEventOverrides extends Pick<KafkaEventOptions, 'concurrency' | 'maxBatchSize'> {
  /**
   * The logical group to consume as, in place of the one the decorator names (which is static):
   * e.g. a module whose group is derived from the host's application name.
   */
  group?: string;
  /** `false`: this instance does not consume for the group at all. */
  enabled?: boolean;
}

/**
 * A Nest transport strategy that serves `@KafkaEvent()` handlers with `KafkaConsumerRunner`, so
 * handlers get Nest's pipes, guards, interceptors and filters and messages keep this project's
 * delivery rules (the stock `ServerKafka` commits past handler errors).
 *
 * Invariants:
 * - only handlers declared for {@link KAFKA_EVENTS_TRANSPORT} are served (Nest hands a server the
 *   handlers whose transport matches its `transportId`, plus those declared without one, which
 *   are left to other transports); other transports may run beside it;
 * - one kafkajs consumer per handler (topic + group); `listen()` calls back at once and the
 *   consumers connect in the background, so the app starts, serves HTTP and reports itself not
 *   ready (`KafkaConsumerRunner.states()`) while the broker is away;
 * - a message is committed only after the handler's pipeline returned normally; what it threw is
 *   classified as the handler threw it, not as the exception filters reshaped it (see
 *   `invokeEventHandler`);
 * - a `batch: true` handler is the consumer's `handleBatch`: one pipeline call (one context) per
 *   run, so pipes, guards, interceptors and filters see the whole run, and a failure fails the
 *   run (then handled again one message at a time by the partition processor);
 * - `close()` stops every consumer: paused and in-flight messages are handed back uncommitted.
 */
@Injectable()
export class KafkaEventsTransport extends Server implements CustomTransportStrategy {
  override readonly transportId = KAFKA_EVENTS_TRANSPORT;
  /** Failures reach `KafkaConsumerRunner`, which logs and classifies them; Nest need not report them again. */
  override propagatesEventHandlerErrors = true;

  private readonly registrations: Registration[] = [];
  private readonly overrides = new Map<string, KafkaEventOverrides>();
  private running: RunningConsumer[] = [];
  private listening = false;

  constructor(
    private readonly runner: KafkaConsumerRunner,
    private readonly topics: KafkaTopics,
  ) {
    super();
  }

  /**
   * Nest chains event handlers of one pattern into one; here each handler is its own consumer
   * (its own group), so they are kept apart. Handlers without `@KafkaEvent()` settings (a plain
   * `@EventPattern()` with no transport) are not served.
   */
  override addHandler(pattern: unknown, callback: MessageHandler, isEventHandler = false, extras: Record<string, unknown> = {}): void {
    const options = extras[KAFKA_EVENT_EXTRAS] as KafkaEventOptions | undefined;
    if (!options || !isEventHandler) {
      this.logger.log(`${this.getPatternAsString(pattern)}: not a @KafkaEvent() handler, not served by ${KafkaEventsTransport.name}`);
      return;
    }
    if (typeof pattern !== 'string') throw new Error(`@KafkaEvent() pattern must be a logical topic name, got ${this.getPatternAsString(pattern)}`);
    if (this.registrations.some((r) => r.topic === pattern && r.options.group === options.group)) {
      throw new Error(`two @KafkaEvent() handlers of ${pattern} in group ${options.group}: give each its own group`);
    }
    // Not `super.addHandler()`: it would chain this handler behind an earlier one of the same
    // topic, so that calling either ran both.
    callback.isEventHandler = true;
    callback.extras = extras;
    this.messageHandlers.set(`${pattern} (${options.group})`, callback);
    this.registrations.push({ topic: pattern, handler: callback, options });
  }

  /**
   * Overrides settings of the handlers of a logical group that only module options know (e.g.
   * the email module's `eventConcurrency`). Takes effect when the transport starts listening.
   */
  configureGroup(group: string, overrides: KafkaEventOverrides): void {
    this.overrides.set(group, { ...this.overrides.get(group), ...overrides });
  }

  /** Starts one consumer per handler and calls back at once (they connect in the background). */
  listen(callback: (error?: unknown) => void): void {
    try {
      if (this.running.length > 0) throw new Error(`${KafkaEventsTransport.name} is already listening`);
      this.running = this.registrations
        .filter((registration) => this.overrides.get(registration.options.group)?.enabled !== false)
        .map((registration) => this.runner.start(this.definition(registration)));
    } catch (error) {
      callback(error);
      return;
    }
    this.listening = true;
    callback();
  }

  /**
   * The handlers waiting for this transport to listen: all of them until the host connected it
   * (`app.connectMicroservice({ strategy })` + `startAllMicroservices()`), so readiness can say
   * so instead of reporting ready with no consumer. Nest registers the handlers at that call:
   * before it, only the configured groups are known.
   */
  unserved(): string[] {
    if (this.listening) return [];
    const known = this.registrations.map((r) => `${r.topic} (${r.options.group})`);
    return known.length > 0 ? known : [...this.overrides.entries()].filter(([, o]) => o.enabled !== false).map(([group]) => group);
  }

  /** Stops every consumer; paused and in-flight messages are handed back uncommitted. */
  async close(): Promise<void> {
    const running = this.running;
    this.running = [];
    this.listening = false;
    await Promise.all(running.map((consumer) => consumer.stop()));
  }

  /** This transport emits no events of its own: consumer health is `KafkaConsumerRunner.states()`. */
  on(): never {
    throw new Error(`${KafkaEventsTransport.name} has no events; read KafkaConsumerRunner.states() for consumer health`);
  }

  /** The consumer runner that owns the kafkajs consumers. */
  unwrap<T>(): T {
    return this.runner as T;
  }

  private definition({ topic, handler, options }: Registration): ConsumerDefinition<z.ZodType> {
    const overrides = this.overrides.get(options.group);
    const concurrency = overrides?.concurrency ?? options.concurrency;
    const maxBatchSize = overrides?.maxBatchSize ?? options.maxBatchSize;
    return {
      groupId: this.topics.group(overrides?.group ?? options.group),
      topics: [this.topics.name(topic)],
      ...(options.createTopics && { createTopics: options.createTopics.map((t) => this.topics.name(t)) }),
      schema: options.schema,
      description: options.description,
      ...(concurrency !== undefined && { concurrency }),
      ...(options.maxDeterministicFailures !== undefined && { maxDeterministicFailures: options.maxDeterministicFailures }),
      ...(options.batch
        ? {
            handleBatch: (items: readonly BatchItem<unknown>[]) =>
              this.handle(KafkaEventContext.forBatch(items.map((i) => i.context), topic), (context) =>
                invokeBatchEventHandler(handler, items.map((i) => i.payload), context),
              ),
            ...(maxBatchSize !== undefined && { maxBatchSize }),
          }
        : {
            handle: (payload: unknown, message: MessageContext) =>
              this.handle(new KafkaEventContext([message, topic]), (context) => invokeEventHandler(handler, payload, context)),
          }),
    };
  }

  /** Runs the handler between Nest's processing hooks (tracing) and returns its outcome(s). */
  private async handle<R>(context: KafkaEventContext, invoke: (context: KafkaEventContext) => Promise<R>): Promise<R> {
    let invocation: Promise<R> | undefined;
    await this.runWithProcessingHooks(context, async (end) => {
      invocation = invoke(context);
      try {
        await invocation;
      } finally {
        end();
      }
    });
    // A start hook that did not run the handler must not let the message be committed.
    if (!invocation) throw new TransientError('a processing start hook did not run the handler');
    return invocation;
  }
}
