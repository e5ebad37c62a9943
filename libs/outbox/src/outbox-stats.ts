import { Injectable } from '@nestjs/common';
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

/** Backlog figures for health checks and metrics. */
@Injectable()
export class OutboxStatsReader {
  constructor(private readonly dataSource: DataSource) {}

  async read(): Promise<OutboxStats> {
    const [row] = (await this.dataSource.query(
      `SELECT count(*) FILTER (WHERE dead_lettered_at IS NULL)::int AS pending,
              count(*) FILTER (WHERE dead_lettered_at IS NULL AND attempts > 0)::int AS retrying,
              count(*) FILTER (WHERE dead_lettered_at IS NOT NULL)::int AS dead,
              COALESCE(EXTRACT(EPOCH FROM now() - min(created_at) FILTER (WHERE dead_lettered_at IS NULL)), 0)::float AS age
       FROM outbox WHERE published_at IS NULL`,
    )) as { pending: number; retrying: number; dead: number; age: number }[];
    return {
      pending: row?.pending ?? 0,
      oldestPendingAgeSeconds: row?.age ?? 0,
      retrying: row?.retrying ?? 0,
      deadLettered: row?.dead ?? 0,
    };
  }
}
