import pg from 'pg';
import { POSTGRES_ADMIN_URL } from '../lib/databases.js';

/** One normalised statement of the run's databases, as `pg_stat_statements` counted it. */
export interface StatementCost {
  database: string;
  calls: number;
  /** Calls per email of the window the profile covered. */
  callsPerEmail: number;
  totalMs: number;
  meanMs: number;
  rows: number;
  query: string;
}

/**
 * What PostgreSQL spent on each statement during a window of the run, from the
 * `pg_stat_statements` extension. It only counts when the server loads the library at start-up
 * (`shared_preload_libraries`), which a stock server does not: then the profile says so and is
 * empty, and the rest of the run is unaffected. `reset()` clears the server-wide counters.
 */
export class StatementProfile {
  private available = false;

  /** Whether the server counts statements; creates the extension's view in `postgres` if it does. */
  async prepare(): Promise<boolean> {
    await this.withAdmin(async (admin) => {
      const { rows } = await admin.query<{ libs: string }>(`SELECT current_setting('shared_preload_libraries') AS libs`);
      this.available = /\bpg_stat_statements\b/.test(rows[0]?.libs ?? '');
      if (this.available) await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    });
    return this.available;
  }

  async reset(): Promise<void> {
    if (this.available) await this.withAdmin((admin) => admin.query('SELECT pg_stat_statements_reset()'));
  }

  /** The `limit` costliest statements (by total execution time) of `databases` since the last reset. */
  async read(databases: string[], emails: number, limit = 25): Promise<StatementCost[]> {
    if (!this.available) return [];
    return this.withAdmin(async (admin) => {
      const { rows } = await admin.query<{ database: string; calls: string; total: number; mean: number; rows: string; query: string }>(
        `SELECT d.datname AS database, s.calls::text AS calls, s.total_exec_time AS total, s.mean_exec_time AS mean,
                s.rows::text AS rows, s.query
         FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
         WHERE d.datname = ANY($1)
         ORDER BY s.total_exec_time DESC
         LIMIT $2`,
        [databases, limit],
      );
      return rows.map((r) => ({
        database: r.database,
        calls: Number(r.calls),
        callsPerEmail: round(Number(r.calls) / Math.max(1, emails), 2),
        totalMs: round(r.total, 1),
        meanMs: round(r.mean, 3),
        rows: Number(r.rows),
        query: r.query.replace(/\s+/g, ' ').slice(0, 240),
      }));
    });
  }

  private async withAdmin<T>(body: (admin: pg.Client) => Promise<T>): Promise<T> {
    const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
    await admin.connect();
    try {
      return await body(admin);
    } finally {
      await admin.end();
    }
  }
}

const round = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits;
