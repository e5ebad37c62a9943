import { MigrationExecutor, type DataSource } from 'typeorm';
import { DEFAULT_MIGRATION_LOCK_TIMEOUT_MS, isConcurrentIndexMigration } from './concurrent-index.js';
import { sqlStateOf } from './database-errors.js';
import { DomainError } from './errors.js';

// Any constant works; it only has to be the same for every instance of every app.
const MIGRATION_LOCK_KEY = 7_340_112_001;

export interface MigrateOptions {
  /**
   * How long one statement waits for a table lock before the migration fails (default
   * {@link DEFAULT_MIGRATION_LOCK_TIMEOUT_MS}), rather than queueing every write to that table
   * behind it while a long transaction holds the lock.
   */
  lockTimeoutMs?: number;
  /** How often an instance waiting for another one's migrations checks the lock. Default 500 ms. */
  lockPollMs?: number;
}

/** A statement of a migration waited longer than the lock timeout: nothing was blocked behind it for longer. */
export class MigrationLockTimeoutError extends DomainError {
  readonly code = 'migration.lock_timeout';
  readonly retriable = true;
}

/**
 * Runs pending migrations under a PostgreSQL advisory lock, so that several instances starting
 * at once apply each migration exactly once.
 *
 * - Each migration runs in a transaction of its own, except a {@link ConcurrentIndexMigration},
 *   which runs outside one so that its indexes are built `CONCURRENTLY` (writes go on).
 * - Every statement waits at most `lockTimeoutMs` for a lock, then the migration fails with
 *   {@link MigrationLockTimeoutError} (the app does not start; the next start tries again).
 * - Instances that wait for the lock poll it (`pg_try_advisory_lock`) instead of blocking in
 *   `pg_advisory_lock`: a blocked statement holds a snapshot, which a `CREATE INDEX
 *   CONCURRENTLY` of the lock holder would wait for, a deadlock.
 * - Migrations run on the session that holds the lock, so the lock lasts exactly as long.
 */
export async function migrateWithLock(dataSource: DataSource, options: MigrateOptions = {}): Promise<string[]> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    for (;;) {
      const [{ locked }] = (await runner.query('SELECT pg_try_advisory_lock($1) AS locked', [MIGRATION_LOCK_KEY])) as [{ locked: boolean }];
      if (locked) break;
      await new Promise((resolve) => setTimeout(resolve, options.lockPollMs ?? 500));
    }
    try {
      await runner.query(`SET lock_timeout = ${Math.max(1, Math.trunc(options.lockTimeoutMs ?? DEFAULT_MIGRATION_LOCK_TIMEOUT_MS))}`);
      for (const migration of dataSource.migrations) {
        if (isConcurrentIndexMigration(migration)) migration.transaction = false;
      }
      const executor = new MigrationExecutor(dataSource, runner);
      executor.transaction = 'each';
      const applied = await executor.executePendingMigrations().catch((error: unknown) => {
        if (sqlStateOf(error) !== '55P03') throw error;
        throw new MigrationLockTimeoutError(
          `a migration waited more than ${options.lockTimeoutMs ?? DEFAULT_MIGRATION_LOCK_TIMEOUT_MS} ms for a table lock held by another transaction ` +
            '(see pg_locks and pg_stat_activity); that migration is not recorded, and the next start runs it again',
          { cause: error },
        );
      });
      return applied.map((m) => m.name);
    } finally {
      await runner.query('RESET lock_timeout').catch(() => undefined);
      await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await runner.release();
  }
}

/**
 * A PostgreSQL schema name the libs accept: unquoted-identifier characters only, so it never needs
 * escaping, and at most 47 of them, so that names derived from it (the outbox's NOTIFY channel
 * `<schema>_outbox_inserted`) stay within PostgreSQL's 63-byte identifier limit.
 */
export const SQL_SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,46}$/;

/** Refuses a schema name that is not a plain lower-case identifier (see {@link SQL_SCHEMA_PATTERN}). */
export function assertSqlSchema(schema: string): string {
  if (!SQL_SCHEMA_PATTERN.test(schema)) {
    throw new Error(`invalid PostgreSQL schema name ${JSON.stringify(schema)}: lower-case letters, digits and _ only, at most 63`);
  }
  return schema;
}

/** `"schema"."table"`: the quoted, schema-qualified name every statement of the libs uses. */
export function sqlTable(schema: string, table: string): string {
  return `"${assertSqlSchema(schema)}"."${table}"`;
}

/**
 * A migration's TypeORM name: the historical name in `public` (so databases migrated before
 * schemas were configurable keep their records), the schema inserted before the timestamp elsewhere.
 */
export function schemaMigrationName(base: string, timestamp: number, schema: string): string {
  return schema === 'public' ? `${base}${timestamp}` : `${base}_${assertSqlSchema(schema)}_${timestamp}`;
}
