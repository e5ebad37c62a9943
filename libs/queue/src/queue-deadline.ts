import { DomainError } from '@app/common';

/** Redis did not answer in time: the queue is unreachable for now. PostgreSQL still holds the work. */
export class QueueUnavailableError extends DomainError {
  readonly code = 'queue_unavailable';
  readonly retriable = true;
}

/**
 * How long one queue operation may wait for Redis. BullMQ waits for a connection indefinitely
 * (also with the offline queue disabled), and a caller such as a Kafka handler must not.
 */
export const QUEUE_OPERATION_DEADLINE_MS = 2_000;
/** After a missed deadline, how long `failFast()` refuses at once instead of waiting for Redis again. */
export const UNREACHABLE_BACKOFF_MS = 5_000;

/**
 * Bounds the BullMQ operations of one queue (or group of queues) in time: each gives up after
 * {@link QUEUE_OPERATION_DEADLINE_MS} with a {@link QueueUnavailableError}, and after a miss
 * `failFast()` refuses for {@link UNREACHABLE_BACKOFF_MS}, so a hot path pays the deadline at most
 * once per back-off during an outage. Operations run through it must be idempotent: a timed-out
 * one may still complete later (BullMQ queues it until Redis is back).
 */
export class QueueDeadline {
  /** Until when `failFast()` refuses: set by a missed deadline, cleared by an operation that made it. */
  private unreachableUntil = 0;

  constructor(private readonly queueName: string) {}

  /** Throws at once while Redis was found unreachable moments ago. */
  failFast(what: string): void {
    if (Date.now() < this.unreachableUntil) {
      throw new QueueUnavailableError(`${this.queueName} ${what}: Redis was unreachable moments ago; not waiting for it again yet`);
    }
  }

  /** Runs an idempotent Redis operation, giving up waiting after the deadline. */
  async run<T>(what: string, operation: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new QueueUnavailableError(`${this.queueName} ${what}: Redis did not answer within ${QUEUE_OPERATION_DEADLINE_MS} ms`)),
        QUEUE_OPERATION_DEADLINE_MS,
      );
    });
    const running = operation();
    running.catch(() => undefined); // a late failure after the deadline is not news
    try {
      const result = await Promise.race([running, deadline]);
      this.unreachableUntil = 0;
      return result;
    } catch (error) {
      if (error instanceof QueueUnavailableError) this.unreachableUntil = Date.now() + UNREACHABLE_BACKOFF_MS;
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}
