import { Logger } from '@nestjs/common';
import { describeError } from '@app/common';

/** What is due for deletion in one table (and whatever goes with its rows). */
export interface RetentionPolicy {
  /** The table, for logs and for the counts `runOnce()` returns. */
  readonly table: string;
  /** How long its rows are kept (as `deleteBatch` reads it); 0 keeps them forever: the table is not pruned. */
  readonly ageMs: number;
  /**
   * Deletes up to `limit` due rows in one short statement; returns how many it deleted. Rows
   * another transaction holds should be skipped (`FOR UPDATE SKIP LOCKED`), so that instances
   * pruning at the same time never wait on each other or on the app's own writes.
   */
  deleteBatch(limit: number): Promise<number>;
}

export interface RetentionSchedule {
  /** Time from the start of one pass to the next. */
  intervalMs: number;
  /** Rows per delete statement. */
  batchSize: number;
}

/** Milliseconds in `days` days: retention ages are configured in days, deletes compare in ms. */
export function daysToMs(days: number): number {
  return days * 86_400_000;
}

/**
 * Deletes rows past their retention, periodically and in small batches: one job per owner of
 * tables (a module, an app), started in `onApplicationBootstrap`, stopped in
 * `onApplicationShutdown`. What is due, and why deleting it is safe, is each policy's business.
 *
 * Invariants:
 * - a batch is one short statement, so a pass never holds many row locks or a long transaction;
 * - a pass deletes batch after batch until one comes back short, so it catches up after downtime;
 * - one pass at a time: a pass that outlasts `intervalMs` delays the next one;
 * - a table whose delete fails is logged and tried again at the next pass; the others still run;
 * - `stop()` ends the pass between two batches and returns once the batch in flight is done.
 */
export class RetentionJob {
  private readonly logger: Logger;
  private readonly stopping = new AbortController();
  private timer?: NodeJS.Timeout;
  private pass?: Promise<unknown>;
  private readonly policies: readonly RetentionPolicy[];

  constructor(
    name: string,
    policies: readonly RetentionPolicy[],
    private readonly schedule: RetentionSchedule,
  ) {
    this.logger = new Logger(name);
    this.policies = policies.filter((p) => p.ageMs > 0);
  }

  /** A first pass now, then one every `intervalMs`. Does nothing when no table is to be pruned. */
  start(): void {
    if (this.policies.length === 0) return;
    const tick = (): void => {
      this.pass ??= this.runOnce().finally(() => {
        this.pass = undefined;
      });
    };
    tick();
    this.timer = setInterval(tick, this.schedule.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.stopping.abort();
    await this.pass;
  }

  /** One pass over every table; returns how many rows it deleted per table. Never throws. */
  async runOnce(): Promise<Record<string, number>> {
    const deleted: Record<string, number> = {};
    for (const policy of this.policies) {
      let count = 0;
      try {
        while (!this.stopping.signal.aborted) {
          const batch = await policy.deleteBatch(this.schedule.batchSize);
          count += batch;
          if (batch < this.schedule.batchSize) break;
        }
      } catch (error) {
        this.logger.warn(`pruning ${policy.table} failed, will try again: ${describeError(error)}`);
      }
      if (count > 0) this.logger.debug(`pruned ${count} rows from ${policy.table}`);
      deleted[policy.table] = count;
    }
    return deleted;
  }
}
