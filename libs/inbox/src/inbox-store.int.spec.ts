import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { createMigratedDatabase, dropMigratedDatabase, explainWithoutSeqScan } from '@app/testing';
import { INBOX_MIGRATIONS } from './index.js';
import { InboxStore, inboxQueries } from './inbox-store.js';

const DAY = 86_400_000;

/** Forgetting old messages on real PostgreSQL: only rows past the age go, found through an index. */
describe('InboxStore.deleteProcessedBefore (PostgreSQL)', () => {
  const inbox = new InboxStore();
  let url: string;
  let dataSource: DataSource;

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('inbox_int', INBOX_MIGRATIONS));
  });

  afterAll(async () => {
    await dropMigratedDatabase(dataSource, url);
  });

  it('deletes at most `limit` rows processed before the age, and a forgotten message counts as new again', async () => {
    await dataSource.query(
      `INSERT INTO inbox (consumer, message_id, processed_at)
       SELECT 'c', 'old-' || i, now() - interval '15 days' FROM generate_series(1, 3) i
       UNION ALL SELECT 'c', 'recent', now() - interval '13 days'`,
    );
    expect(await inbox.deleteProcessedBefore(dataSource.manager, 14 * DAY, 2)).toBe(2);
    expect(await inbox.deleteProcessedBefore(dataSource.manager, 14 * DAY, 2)).toBe(1);
    expect(await inbox.deleteProcessedBefore(dataSource.manager, 14 * DAY, 2)).toBe(0);
    expect(await dataSource.query(`SELECT message_id FROM inbox`)).toEqual([{ message_id: 'recent' }]);
    // Why the age must exceed how long Kafka can redeliver a message:
    await dataSource.transaction(async (m) => expect(await inbox.recordOnce(m, 'c', 'old-1')).toBe(true));
  });

  it('finds the rows that are due through inbox_processed_at_idx and deletes them by address, never scanning the inbox', async () => {
    const plan = (await explainWithoutSeqScan(url, inboxQueries.deleteProcessed(14 * DAY, 1_000))).join('\n');
    expect(plan).not.toMatch(/Seq Scan/);
    expect(plan).toMatch(/inbox_processed_at_idx/);
    expect(plan).toMatch(/Tid Scan on inbox/); // deleted by address: no join whose plan depends on the table's size
  });
});

describe('InboxStore.recordMany (PostgreSQL)', () => {
  const inbox = new InboxStore();
  let url: string;
  let dataSource: DataSource;

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('inbox_many_int', INBOX_MIGRATIONS));
  });

  afterAll(async () => {
    await dropMigratedDatabase(dataSource, url);
  });

  it('records the ids in one statement and returns those not seen before by this consumer, an id given twice once', async () => {
    await dataSource.transaction((m) => inbox.recordOnce(m, 'c', 'seen'));
    await dataSource.transaction((m) => inbox.recordOnce(m, 'other', 'new-1'));

    const recorded = await dataSource.transaction((m) => inbox.recordMany(m, 'c', ['new-2', 'seen', 'new-1', 'new-2']));
    expect([...recorded].sort()).toEqual(['new-1', 'new-2']);
    expect(await dataSource.transaction((m) => inbox.recordMany(m, 'c', ['new-1', 'new-3']))).toEqual(new Set(['new-3']));
    expect(await dataSource.transaction((m) => inbox.recordMany(m, 'c', []))).toEqual(new Set());
    const rows: { message_id: string }[] = await dataSource.query(`SELECT message_id FROM inbox WHERE consumer = 'c' ORDER BY message_id`);
    expect(rows.map((r) => r.message_id)).toEqual(['new-1', 'new-2', 'new-3', 'seen']);
  });
});
