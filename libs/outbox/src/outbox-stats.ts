import { Inject, Injectable } from '@nestjs/common';
import { sqlTable } from '@app/common';
import { OUTBOX_OPTIONS, type OutboxModuleOptions } from './outbox.options.js';
import { DataSource } from 'typeorm';

export interface OutboxStats {
  /** Rows committed but not yet acknowledged by the broker (dead letters excluded). */
  pending: number;
  /** Age of the oldest pending row, 0 when there is none. */
  oldestPendingAgeSeconds: number;
  /** Pending rows whose last publish failed and that wait for a retry. */
  retrying: number;
  /** Rows the transport rejected permanently; see `OutboxDeadLetters`. */
  deadLettered: number;
}

/**
 * The backlog in one statement, each figure read through the partial index that holds exactly its
 * rows, so the cost follows the backlog and not the published rows kept for retention:
 * pending, retrying and the oldest age from `outbox_pending_idx`, dead letters from
 * `outbox_dead_letter_idx`. Each WHERE spells out its index's predicate so the planner can match it.
 */
export const outboxStatsSql = (schema = 'public'): string => `
  SELECT pending.count AS pending, pending.retrying, pending.age, dead.count AS dead
  FROM (SELECT count(*)::int AS count,
               count(*) FILTER (WHERE attempts > 0)::int AS retrying,
               COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float AS age
        FROM ${sqlTable(schema, 'outbox')} WHERE published_at IS NULL AND dead_lettered_at IS NULL) AS pending,
       (SELECT count(*)::int AS count FROM ${sqlTable(schema, 'outbox')} WHERE dead_lettered_at IS NOT NULL) AS dead`;

/** Backlog figures for health checks and metrics. */
@Injectable()
export class OutboxStatsReader {
  private readonly sql: string;

  constructor(
    private readonly dataSource: DataSource,
    @Inject(OUTBOX_OPTIONS) options: Pick<OutboxModuleOptions, 'schema'> = {},
  ) {
    this.sql = outboxStatsSql(options.schema);
  }

  async read(): Promise<OutboxStats> {
    const [row] = (await this.dataSource.query(this.sql)) as { pending: number; retrying: number; dead: number; age: number }[];
    return {
      pending: row?.pending ?? 0,
      oldestPendingAgeSeconds: row?.age ?? 0,
      retrying: row?.retrying ?? 0,
      deadLettered: row?.dead ?? 0,
    };
  }
}
