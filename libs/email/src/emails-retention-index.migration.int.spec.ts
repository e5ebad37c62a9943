import { afterEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { MigrationLockTimeoutError, migrateWithLock } from '@app/common';
import { createTestDatabase, dropTestDatabase, waitFor } from '@app/testing';
import { emailMigrations } from './email.migrations.js';

const SCHEMA = 'email_loop';
const INDEX = 'emails_final_updated_idx';

/** The module's migrations up to (not including) the one named `before`. */
function migrationsBefore(before: string) {
  const all = emailMigrations(SCHEMA);
  const at = all.findIndex((M) => new M().name?.startsWith(before));
  expect(at, before).toBeGreaterThan(0);
  return all.slice(0, at);
}

async function dataSource(url: string, migrations = emailMigrations(SCHEMA)): Promise<DataSource> {
  const ds = new DataSource({ type: 'postgres', url, migrations });
  await ds.initialize();
  return ds;
}

async function client(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return c;
}

const insertEmail = `INSERT INTO ${SCHEMA}.emails (id, idempotency_key, request_hash, lane, recipients, subject, status)
  VALUES (gen_random_uuid(), gen_random_uuid()::text, 'h', 'transactional', '["a@example.test"]', 's', 'queued')`;

describe('the emails retention index migrations on a table that takes writes', () => {
  let url: string | undefined;
  const open: { end(): Promise<unknown> }[] = [];

  afterEach(async () => {
    for (const c of open.splice(0)) await c.end().catch(() => undefined);
    if (url) await dropTestDatabase(url);
    url = undefined;
  });

  async function setUp(before: string): Promise<string> {
    url = await createTestDatabase('emails_index_migration');
    const ds = await dataSource(url, migrationsBefore(before));
    await migrateWithLock(ds);
    await ds.destroy();
    return url;
  }

  it('rebuilds the index CONCURRENTLY: a write during the build is not blocked, and no session asks for a ShareLock on emails', async () => {
    const db = await setUp('EmailsRetentionIndexV2');
    // A transaction in progress that wrote to emails: a plain CREATE INDEX would wait for it with
    // a ShareLock request, and every later write would queue behind that request.
    const writer = await client(db);
    open.push(writer);
    await writer.query('BEGIN');
    await writer.query(insertEmail);

    const ds = await dataSource(db);
    open.push({ end: () => ds.destroy() });
    const migrating = migrateWithLock(ds, { lockTimeoutMs: 30_000 });
    migrating.catch(() => undefined);
    const observer = await client(db);
    open.push(observer);
    // The migration is under way once it waits (for the writer's transaction) on something.
    await waitFor(
      async () => {
        const { rows } = await observer.query(
          `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE '%INDEX CONCURRENTLY%' AND wait_event_type = 'Lock'`,
        );
        return rows.length > 0 || undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100, description: 'the migration to wait for the transaction in progress' },
    );

    const { rows: shareLocks } = await observer.query(
      `SELECT pid, mode, granted FROM pg_locks WHERE relation = '${SCHEMA}.emails'::regclass AND mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')`,
    );
    expect(shareLocks, 'locks on emails that block writes').toEqual([]);
    const other = await client(db);
    open.push(other);
    await other.query(`SET lock_timeout = 2000`);
    await expect(other.query(insertEmail), 'a write while the index is rebuilt').resolves.toMatchObject({ rowCount: 1 });

    await writer.query('COMMIT');
    expect(await migrating).toEqual(expect.arrayContaining([expect.stringMatching(/^EmailsRetentionIndexV2/)]));
    const { rows } = await observer.query(
      `SELECT i.indisvalid AS valid, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i WHERE i.indexrelid = to_regclass('${SCHEMA}.${INDEX}')`,
    );
    expect(rows).toEqual([{ valid: true, def: expect.stringContaining("'suppressed'") }]);
  });

  it('fails clearly after the lock timeout, leaving an INVALID index that the next run rebuilds', async () => {
    const db = await setUp('EmailsRetentionIndex');
    const writer = await client(db);
    open.push(writer);
    await writer.query('BEGIN');
    await writer.query(insertEmail);

    const interrupted = await dataSource(db);
    const failure = await migrateWithLock(interrupted, { lockTimeoutMs: 1_000 }).catch((e: unknown) => e);
    await interrupted.destroy();
    expect(failure).toBeInstanceOf(MigrationLockTimeoutError);
    const observer = await client(db);
    open.push(observer);
    const state = async () =>
      (await observer.query(`SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = to_regclass('${SCHEMA}.${INDEX}')`)).rows;
    expect(await state(), 'what the interrupted CONCURRENTLY build left').toEqual([{ valid: false }]);
    const recorded = async () => (await observer.query(`SELECT name FROM migrations WHERE name LIKE 'EmailsRetentionIndex%'`)).rows.length;
    expect(await recorded()).toBe(0);

    await writer.query('COMMIT');
    const rerun = await dataSource(db);
    const applied = await migrateWithLock(rerun);
    await rerun.destroy();
    expect(applied.filter((name) => name.startsWith('EmailsRetentionIndex'))).toHaveLength(2);
    expect(await state()).toEqual([{ valid: true }]);
    expect(await recorded()).toBe(2);
  });

  it('lets instances that start together wait for the lock without deadlocking a CONCURRENTLY build', async () => {
    const db = await setUp('EmailsRetentionIndex');
    const sources = await Promise.all([dataSource(db), dataSource(db), dataSource(db)]);
    try {
      const results = await Promise.all(sources.map((ds) => migrateWithLock(ds, { lockPollMs: 50 })));
      const applied = results.flat().filter((name) => name.startsWith('EmailsRetentionIndex'));
      expect(applied, 'each applied once, by one instance').toHaveLength(2);
      expect(applied).toEqual(expect.arrayContaining([expect.stringMatching(/^EmailsRetentionIndex_/), expect.stringMatching(/^EmailsRetentionIndexV2_/)]));
    } finally {
      await Promise.all(sources.map((ds) => ds.destroy()));
    }
  });
});
