import type { MessageHandler } from '@nestjs/microservices';
import { isObservable, lastValueFrom } from 'rxjs';
import { TransientError } from '@app/common';
import { BatchOutcomeMismatchError, type HandlerOutcome } from '../partition-processor.js';
import { recordedFailure } from './handler-failure.recorder.js';
import type { KafkaEventContext } from './kafka-event.context.js';

const OUTCOMES: readonly unknown[] = ['processed', 'duplicate', 'skipped'] satisfies HandlerOutcome[];

function isHandlerOutcome(value: unknown): value is HandlerOutcome {
  return OUTCOMES.includes(value);
}

function isOutcomeList(value: unknown): value is HandlerOutcome[] {
  return Array.isArray(value) && value.every(isHandlerOutcome);
}

/** A handler failed, and all that reached the transport is a value that is not an error (e.g. Nest's `{ status: 'error' }`). */
export class UnrecognizedHandlerFailure extends TransientError {
  constructor(readonly value: unknown) {
    super(`the handler failed with a non-error value: ${safeJson(value)}`);
  }
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * Calls a Nest-wrapped `@KafkaEvent()` handler and turns what comes out of Nest's pipeline into
 * what the partition processor needs: an outcome, or the error to classify.
 *
 * - The handler's own error (recorded by `HandlerFailureRecorder` before any filter ran) is what
 *   is classified, whatever shape the exception filters gave it afterwards.
 * - A filter or interceptor "swallows" a failure only by returning a `HandlerOutcome`: then the
 *   message counts as done with that outcome. Anything else after a failure (nothing, `EMPTY`, an
 *   RPC error object, another error) leaves the failure standing: no silent commits.
 * - A failure that was not recorded (a guard threw, or denied) and reached here as a non-error
 *   value is transient: retried, never skipped.
 */
export async function invokeEventHandler(handler: MessageHandler, payload: unknown, context: KafkaEventContext): Promise<HandlerOutcome> {
  const result = await runPipeline(handler, payload, context, isHandlerOutcome);
  return isHandlerOutcome(result) ? result : 'processed';
}

/**
 * The same for a `batch: true` handler, called with every payload of the run: it settles the run
 * with one outcome per message (`undefined` counts as `processed` for each), and a filter swallows
 * a failure only by returning such a list. Anything else is a {@link BatchOutcomeMismatchError}
 * (transient: nothing of the run is committed).
 */
export async function invokeBatchEventHandler(handler: MessageHandler, payloads: readonly unknown[], context: KafkaEventContext): Promise<HandlerOutcome[]> {
  const result = await runPipeline(handler, payloads, context, isOutcomeList);
  if (result === undefined) return payloads.map(() => 'processed');
  if (isOutcomeList(result) && result.length === payloads.length) return result;
  throw new BatchOutcomeMismatchError(payloads.length, result);
}

/** Runs the handler's pipeline; returns its result, or throws the failure to classify (see above). */
async function runPipeline(handler: MessageHandler, data: unknown, context: KafkaEventContext, settlesFailure: (result: unknown) => boolean): Promise<unknown> {
  let result: unknown;
  try {
    const returned: unknown = await handler(data, context);
    result = isObservable(returned) ? await lastValueFrom(returned, { defaultValue: undefined }) : returned;
  } catch (error) {
    const recorded = recordedFailure(context);
    if (recorded) throw recorded.error;
    if (error instanceof Error) throw error;
    throw new UnrecognizedHandlerFailure(error);
  }
  const recorded = recordedFailure(context);
  if (recorded && !settlesFailure(result)) throw recorded.error;
  return result;
}
