import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { childEnv } from './env.js';

export const POSTGRES_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** Creates an empty database named `name` on the local server; returns its URL. */
export async function createDatabase(name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function dropDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** Applies the email module's migrations with the package's own CLI (the built one in dist/). */
export async function migrateEmailTables(url: string): Promise<void> {
  await promisify(execFile)(process.execPath, ['dist/libs/email/src/migrate.cli.js', 'migrate', '--database-url', url], { env: childEnv({}) });
}
