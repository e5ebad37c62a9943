import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { QUEUE_OPERATION_DEADLINE_MS, QueueDeadline, QueueUnavailableError, UNREACHABLE_BACKOFF_MS } from './queue-deadline.js';

describe('QueueDeadline', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('gives up on an operation Redis does not answer, then fails fast for the back-off, then waits again', async () => {
    const deadline = new QueueDeadline('test queue');
    const hanging = deadline.run('add', () => new Promise<never>(() => undefined));
    const settled = expect(hanging).rejects.toThrow(`test queue add: Redis did not answer within ${QUEUE_OPERATION_DEADLINE_MS} ms`);
    await vi.advanceTimersByTimeAsync(QUEUE_OPERATION_DEADLINE_MS);
    await settled;

    expect(() => deadline.failFast('enqueue')).toThrow(QueueUnavailableError);
    await vi.advanceTimersByTimeAsync(UNREACHABLE_BACKOFF_MS);
    expect(() => deadline.failFast('enqueue')).not.toThrow();
  });

  it('clears the fail-fast window as soon as an operation makes it in time', async () => {
    const deadline = new QueueDeadline('test queue');
    const hanging = deadline.run('add', () => new Promise<never>(() => undefined)).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(QUEUE_OPERATION_DEADLINE_MS);
    expect(await hanging).toBeInstanceOf(QueueUnavailableError);

    await expect(deadline.run('ping', async () => 'pong')).resolves.toBe('pong');
    expect(() => deadline.failFast('enqueue')).not.toThrow();
  });

  it('passes an operation’s own error through without starting the fail-fast window', async () => {
    const deadline = new QueueDeadline('test queue');
    await expect(deadline.run('add', () => Promise.reject(new Error('WRONGTYPE')))).rejects.toThrow('WRONGTYPE');
    expect(() => deadline.failFast('enqueue')).not.toThrow();
  });
});
