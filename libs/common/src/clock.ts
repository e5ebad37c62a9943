import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';

/** The current time, behind an injectable so logic that depends on it is testable. */
@Injectable()
export class Clock {
  now(): Date {
    return new Date();
  }
}

/** Identifier generation, behind an injectable for the same reason. */
@Injectable()
export class IdGenerator {
  uuid(): string {
    return randomUUID();
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
