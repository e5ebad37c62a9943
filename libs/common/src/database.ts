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
