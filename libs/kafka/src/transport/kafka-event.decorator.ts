import { UseInterceptors } from '@nestjs/common';
import { EventPattern } from '@nestjs/microservices';
import type { z } from 'zod';
import { HandlerFailureRecorder } from './handler-failure.recorder.js';

/** The `transportId` of {@link KafkaEventsTransport}: only handlers declared for it are served by it. */
export const KAFKA_EVENTS_TRANSPORT = Symbol('KafkaEventsTransport');

/** Key of the handler's settings in the pattern's `extras`. */
export const KAFKA_EVENT_EXTRAS = 'kafkaEvent';

export interface KafkaEventOptions<S extends z.ZodType = z.ZodType> {
  /**
   * Logical consumer group (e.g. `mailer.requests.transactional`); the transport adds the
   * deployment's prefix (`KafkaTopics.group()`). One group per handler: two handlers of the same
   * topic in different groups each get every message.
   */
  group: string;
  /** Validates each payload before the handler runs; a payload that fails is dead-lettered with the reason. */
  schema: S;
  /** What the payload is called in error messages, e.g. `email request`. */
  description: string;
  /** Partitions processed in parallel by this instance (order is kept within a partition). Default 1. */
  concurrency?: number;
  /** Logical topics to create, if missing, before subscribing (e.g. every contract topic). */
  createTopics?: readonly string[];
  /** Deterministic database failures of one message before it is dead-lettered. Default 5. */
  maxDeterministicFailures?: number;
  /**
   * `true`: the handler is called with a run of consecutive valid messages of one partition (an
   * array of payloads, in offset order; `KafkaEventContext.getMessages()` tells where each came
   * from) and returns one `HandlerOutcome` per payload. The call must be atomic (all or nothing,
   * e.g. one transaction): when it fails, its messages are handled again one at a time, each as
   * a batch of one, so that only the failing one is retried or dead-lettered.
   */
  batch?: boolean;
  /** With `batch: true`, the most messages in one call. Default 100. */
  maxBatchSize?: number;
}

/**
 * Declares a handler of the logical topic `topic` (from `@app/contracts`' `Topics`), served by
 * {@link KafkaEventsTransport} with this project's delivery rules: the payload is validated
 * against `options.schema` first; the offset is committed only after the handler returned; what
 * the handler throws is classified (poison → `<topic>.dlq` at once, deterministic database
 * failure → after a few tries, anything else → retried without skipping).
 *
 * The handler receives the parsed payload (`@Payload()`) and a `KafkaEventContext` (`@Ctx()`),
 * and returns a `HandlerOutcome` (`undefined` counts as `processed`). With `batch: true` it
 * receives an array of payloads and returns an array of outcomes (see
 * {@link KafkaEventOptions.batch}). Pipes, guards, interceptors and exception filters apply as to
 * any Nest handler (to the whole array for a batch); see {@link KafkaEventsTransport} for what a
 * filter can and cannot change. Put `@KafkaEvent()` above any `@UseInterceptors()` of the same
 * method, so that the transport sees the handler's own error first.
 */
export function KafkaEvent<S extends z.ZodType>(topic: string, options: KafkaEventOptions<S> & { batch: true }): KafkaBatchEventDecorator<S>;
export function KafkaEvent<S extends z.ZodType>(topic: string, options: KafkaEventOptions<S> & { batch?: false }): KafkaEventDecorator<S>;
export function KafkaEvent<S extends z.ZodType>(topic: string, options: KafkaEventOptions<S>): MethodDecorator {
  const pattern = EventPattern(topic, KAFKA_EVENTS_TRANSPORT, { [KAFKA_EVENT_EXTRAS]: options }) as MethodDecorator;
  const recorder = UseInterceptors(new HandlerFailureRecorder());
  return (target, key, descriptor) => {
    recorder(target, key, descriptor);
    pattern(target, key, descriptor);
  };
}

/** Applies to a method whose first parameter is the payload as the schema parses it. */
export type KafkaEventDecorator<S extends z.ZodType> = <M extends (payload: z.output<S>, ...rest: never[]) => unknown>(
  target: object,
  key: string | symbol,
  descriptor: TypedPropertyDescriptor<M>,
) => void;

/** Applies to a method whose first parameter is the run's payloads as the schema parses them. */
export type KafkaBatchEventDecorator<S extends z.ZodType> = <M extends (payloads: z.output<S>[], ...rest: never[]) => unknown>(
  target: object,
  key: string | symbol,
  descriptor: TypedPropertyDescriptor<M>,
) => void;
