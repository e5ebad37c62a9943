import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { createMigratedDatabase, dropMigratedDatabase, explainWithoutSeqScan } from '@app/testing';
import { OUTBOX_MIGRATIONS } from './index.js';
import { outboxStatsSql, OutboxStatsReader } from './outbox-stats.js';

/** The health endpoint's backlog query on real PostgreSQL: right figures, read through the partial indexes. */
describe('OutboxStatsReader (PostgreSQL)', () => {
  let url: string;
  let dataSource: DataSource;

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('outbox_stats_int', OUTBOX_MIGRATIONS));
    // Mostly published rows (what retention keeps for a day), a small backlog and two dead letters.
    await dataSource.query(
      `INSERT INTO outbox (topic, message_key, payload, published_at, created_at)
       SELECT 't', 'k' || i, '{}', now(), now() - interval '1 hour' FROM generate_series(1, 5000) i`,
    );
    await dataSource.query(
      `INSERT INTO outbox (topic, message_key, payload, attempts, created_at) VALUES
         ('t', 'p1', '{}', 0, now() - interval '30 seconds'),
         ('t', 'p2', '{}', 2, now() - interval '10 seconds'),
         ('t', 'p3', '{}', 1, now())`,
    );
    await dataSource.query(
      `INSERT INTO outbox (topic, message_key, payload, attempts, dead_lettered_at, created_at) VALUES
         ('t', 'd1', '{}', 1, now(), now() - interval '2 hours'),
         ('t', 'd2', '{}', 1, now(), now() - interval '2 hours')`,
    );
    await dataSource.query('ANALYZE outbox');
  });

  afterAll(async () => {
    await dropMigratedDatabase(dataSource, url);
  });

  it('counts pending, retrying and dead-lettered rows and the age of the oldest pending one', async () => {
    const stats = await new OutboxStatsReader(dataSource).read();
    expect(stats).toMatchObject({ pending: 3, retrying: 2, deadLettered: 2 });
    expect(stats.oldestPendingAgeSeconds).toBeGreaterThanOrEqual(30);
    expect(stats.oldestPendingAgeSeconds).toBeLessThan(120);
  });

  it('reads the backlog through the pending and dead-letter partial indexes, never scanning published rows', async () => {
    const plan = (await explainWithoutSeqScan(url, { sql: outboxStatsSql() })).join('\n');
    expect(plan).not.toMatch(/Seq Scan on outbox/);
    expect(plan).toMatch(/outbox_pending_idx/);
    expect(plan).toMatch(/outbox_dead_letter_idx/);
  });
});
