import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * How long a migration statement waits for a lock before it fails, unless the session already
 * has a `lock_timeout` (`migrateWithLock` sets its own). Without one, a statement queued behind a
 * long transaction makes every later write to the table queue behind it too.
 */
export const DEFAULT_MIGRATION_LOCK_TIMEOUT_MS = 10_000;

/**
 * A migration that builds or drops indexes on a table that may be large. `migrateWithLock` runs it
 * outside a transaction, so that {@link createIndex} and {@link dropIndex} use `CONCURRENTLY` and
 * writes to the table go on meanwhile. Run inside a transaction (a host whose TypeORM runs every
 * migration in one, `migrationsTransactionMode: 'all'`), the same statements run without
 * `CONCURRENTLY`, under a lock timeout: correct, but writes wait for the build.
 *
 * Its `up` must be safe to run again after an interruption at any statement: with no transaction,
 * what ran before the interruption stays (`ADD COLUMN IF NOT EXISTS`, and the helpers below).
 */
export interface ConcurrentIndexMigration extends MigrationInterface {
  readonly concurrentIndexes: true;
}

export function isConcurrentIndexMigration(migration: MigrationInterface): migration is ConcurrentIndexMigration {
  return (migration as Partial<ConcurrentIndexMigration>).concurrentIndexes === true;
}

/** An index: its name, and the schema of its table (absent: the search path's, e.g. `public`). */
export interface IndexName {
  schema?: string;
  name: string;
}

function qualified({ schema, name }: IndexName): string {
  return schema === undefined ? name : `"${schema}".${name}`;
}

/**
 * Creates an index unless a valid one of that name exists (`IF NOT EXISTS`: e.g. built by hand
 * beforehand). An INVALID one, left by an interrupted `CREATE INDEX CONCURRENTLY`, is dropped and
 * built again. `on` is what follows `ON`: `"schema"."table" (columns) [WHERE …]`.
 */
export async function createIndex(q: QueryRunner, index: IndexName & { on: string; unique?: boolean }): Promise<void> {
  const concurrently = q.isTransactionActive ? '' : 'CONCURRENTLY ';
  await withLockTimeout(q, async () => {
    const found = (await q.query(`SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = to_regclass($1)`, [qualified(index)])) as { valid: boolean }[];
    if (found[0]?.valid === true) return;
    if (found.length > 0) await q.query(`DROP INDEX ${concurrently}${qualified(index)}`);
    await q.query(`CREATE ${index.unique ? 'UNIQUE ' : ''}INDEX ${concurrently}${index.name} ON ${index.on}`);
  });
}

/** Drops an index if it exists, valid or not. */
export async function dropIndex(q: QueryRunner, index: IndexName): Promise<void> {
  const concurrently = q.isTransactionActive ? '' : 'CONCURRENTLY ';
  await withLockTimeout(q, () => q.query(`DROP INDEX ${concurrently}IF EXISTS ${qualified(index)}`));
}

/** Runs `work` with a lock timeout: the session's if it has one, else the default (for this transaction, or restored after). */
async function withLockTimeout<T>(q: QueryRunner, work: () => Promise<T>): Promise<T> {
  const [{ lock_timeout: current }] = (await q.query(`SHOW lock_timeout`)) as [{ lock_timeout: string }];
  if (current !== '0') return work();
  if (q.isTransactionActive) {
    await q.query(`SET LOCAL lock_timeout = ${DEFAULT_MIGRATION_LOCK_TIMEOUT_MS}`);
    return work();
  }
  await q.query(`SET lock_timeout = ${DEFAULT_MIGRATION_LOCK_TIMEOUT_MS}`);
  try {
    return await work();
  } finally {
    await q.query(`RESET lock_timeout`);
  }
}
