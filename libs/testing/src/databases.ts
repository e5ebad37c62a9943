import pg from 'pg';
import { DataSource, type DataSourceOptions } from 'typeorm';

const ADMIN_URL = process.env.TEST_POSTGRES_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Creates an empty database with a unique name and returns its connection string. */
export async function createTestDatabase(prefix: string, adminUrl = ADMIN_URL): Promise<string> {
  const name = `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`.toLowerCase();
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Drops a database made by {@link createTestDatabase}, disconnecting whoever is still on it. */
export async function dropTestDatabase(url: string): Promise<void> {
  const adminUrl = new URL(url);
  const name = adminUrl.pathname.slice(1);
  adminUrl.pathname = '/postgres'; // same server, its maintenance database
  const admin = new pg.Client({ connectionString: adminUrl.toString() });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/**
 * A fresh database with `migrations` applied, and a TypeORM `DataSource` on it: the set-up of every
 * integration test that needs real tables. {@link dropMigratedDatabase} undoes it.
 */
export async function createMigratedDatabase(
  prefix: string,
  migrations: DataSourceOptions['migrations'],
): Promise<{ url: string; dataSource: DataSource }> {
  const url = await createTestDatabase(prefix);
  const dataSource = new DataSource({ type: 'postgres', url, migrations });
  await dataSource.initialize();
  // As the apps run them (`migrateWithLock`): one transaction each, so a migration may opt out of one (CREATE INDEX CONCURRENTLY).
  await dataSource.runMigrations({ transaction: 'each' });
  return { url, dataSource };
}

/** Closes the `DataSource` and drops its database (made by {@link createMigratedDatabase}). */
export async function dropMigratedDatabase(dataSource: DataSource | undefined, url: string | undefined): Promise<void> {
  await dataSource?.destroy();
  if (url) await dropTestDatabase(url);
}
