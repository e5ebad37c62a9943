import { Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { describeError } from '@app/common';
import type { EnsureJobOutcome } from './ensure-job.js';
import { SweepLoop } from './sweep-loop.js';

const PAGE_SIZE = 500;

/**
 * Redis is not the source of truth: a sweeper walks what PostgreSQL holds open, page by page, and
 * makes sure each item has a runnable BullMQ job (`ensure`). It runs at start-up, every
 * `intervalMs`, and on request (`sweepSoon()`, the backstop of an enqueue that failed), so after a
 * `FLUSHALL`, a lost enqueue or a job BullMQ gave up on, nothing stays stuck.
 *
 * A subclass says what is open (`page`, keyset-paginated after the last item of the previous
 * page) and how to make its job (`ensure`).
 */
export abstract class JobSweeper<Item> implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(this.constructor.name);
  private readonly loop: SweepLoop;

  protected constructor(
    private readonly what: string,
    intervalMs: number,
  ) {
    this.loop = new SweepLoop(() => this.sweep(), intervalMs);
  }

  /** Up to `limit` open items after `after` (null: from the start), in a stable order. */
  protected abstract page(after: Item | null, limit: number): Promise<Item[]>;

  /** Makes sure the item has a runnable job; bounded in time (`QueueDeadline`). */
  protected abstract ensure(item: Item): Promise<EnsureJobOutcome>;

  onApplicationBootstrap(): void {
    this.loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.loop.stop();
  }

  /** Asks for a sweep within about a second, repeated with back-off until one gets through (Redis may still be away). */
  sweepSoon(): void {
    this.loop.soon();
  }

  /** One pass over every open item; returns whether it got through. */
  async sweep(): Promise<boolean> {
    try {
      let after: Item | null = null;
      const repaired = { added: 0, revived: 0 };
      for (;;) {
        const items: Item[] = await this.page(after, PAGE_SIZE);
        for (const item of items) {
          const outcome = await this.ensure(item);
          if (outcome !== 'present') repaired[outcome]++;
        }
        if (items.length < PAGE_SIZE) break;
        after = items[items.length - 1] ?? null;
      }
      if (repaired.added + repaired.revived > 0) {
        this.logger.warn(`rebuilt ${this.what} jobs from PostgreSQL: ${repaired.added} added, ${repaired.revived} revived`);
      }
      return true;
    } catch (error) {
      this.logger.warn(`${this.what} sweep failed, will try again: ${describeError(error)}`);
      return false;
    }
  }
}
