import type { CallHandler, ExecutionContext, NestInterceptor } from '@nestjs/common';
import { catchError, tap, throwError, type Observable } from 'rxjs';
import { KafkaEventContext } from './kafka-event.context.js';

/** The error the handler (or one of its pipes) threw for a message, kept per message. */
const failures = new WeakMap<KafkaEventContext, { error: unknown }>();

/** The failure recorded for this message that no later success cleared, if any. */
export function recordedFailure(context: KafkaEventContext): { error: unknown } | undefined {
  return failures.get(context);
}

/**
 * Records the error an `@KafkaEvent()` handler threw, before any exception filter sees it.
 *
 * Nest's exception layer replaces an unknown error with `{ status: 'error', message: 'Internal
 * server error' }`, and a user's filter may map it to anything; the transport must still know
 * whether the original failure was poison, deterministic or transient. `@KafkaEvent()` applies
 * this interceptor to the method itself, so it is the innermost one: it sees what the handler and
 * the pipes threw, unchanged, and rethrows it untouched, so filters and outer interceptors work
 * as they would without it.
 *
 * A later success of the same pipeline (an outer interceptor that retried) clears the record.
 */
export class HandlerFailureRecorder implements NestInterceptor {
  intercept(execution: ExecutionContext, next: CallHandler): Observable<unknown> {
    const context: unknown = execution.switchToRpc().getContext();
    if (!(context instanceof KafkaEventContext)) return next.handle();
    return next.handle().pipe(
      tap({ next: () => failures.delete(context), complete: () => failures.delete(context) }),
      catchError((error: unknown) => {
        failures.set(context, { error });
        return throwError(() => error);
      }),
    );
  }
}
