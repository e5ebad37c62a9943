import type { DataSource } from 'typeorm';

// Any constant works; it only has to be the same for every instance of every app.
const MIGRATION_LOCK_KEY = 7_340_112_001;

/**
 * Runs pending migrations under a PostgreSQL advisory lock, so that several instances starting
 * at once apply each migration exactly once.
 */
export async function migrateWithLock(dataSource: DataSource): Promise<string[]> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      const applied = await dataSource.runMigrations({ transaction: 'each' });
      return applied.map((m) => m.name);
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await runner.release();
  }
}
