import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface OutboxStats {
  /** Rows committed but not yet acknowledged by the broker. */
  pending: number;
  /** Age of the oldest pending row, 0 when there is none. */
  oldestPendingAgeSeconds: number;
}

/** Backlog figures for health checks and metrics. */
@Injectable()
export class OutboxStatsReader {
  constructor(private readonly dataSource: DataSource) {}

  async read(): Promise<OutboxStats> {
    const [row] = (await this.dataSource.query(
      `SELECT count(*)::int AS pending,
              COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float AS age
       FROM outbox WHERE published_at IS NULL`,
    )) as { pending: number; age: number }[];
    return { pending: row?.pending ?? 0, oldestPendingAgeSeconds: row?.age ?? 0 };
  }
}
