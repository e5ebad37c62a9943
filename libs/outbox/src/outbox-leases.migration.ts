import type { MigrationInterface, QueryRunner } from 'typeorm';
import { createIndex, dropIndex, schemaMigrationName, sqlTable, type ConcurrentIndexMigration } from '@app/common';

/**
 * Leased claims, per-row retry back-off and dead letters for the outbox relay (in `schema`).
 *
 * - `claim_token` / `lease_until`: a relay claims rows for a bounded time; the token fences a
 *   relay whose lease ran out, so its late "published" mark cannot land;
 * - `retry_at`: a row whose publish failed waits until then (its key waits with it);
 * - `dead_lettered_at`: the transport rejected the row permanently; kept for inspection and
 *   requeue, never retried on its own.
 *
 * Outside a transaction (`ConcurrentIndexMigration`): the columns are added in one statement
 * (metadata only, under the lock timeout), the indexes dropped and built `CONCURRENTLY` while the
 * app keeps writing to its outbox. Each step is safe to run again after an interruption.
 */
export function createOutboxLeasesMigration(schema: string): new () => MigrationInterface {
  const outbox = sqlTable(schema, 'outbox');
  return class OutboxLeases implements ConcurrentIndexMigration {
    readonly concurrentIndexes = true;
    name = schemaMigrationName('OutboxLeases', 1763900000002, schema);

    async up(q: QueryRunner): Promise<void> {
      await q.query(`
        ALTER TABLE ${outbox}
          ADD COLUMN IF NOT EXISTS claim_token      uuid,
          ADD COLUMN IF NOT EXISTS lease_until      timestamptz,
          ADD COLUMN IF NOT EXISTS retry_at         timestamptz,
          ADD COLUMN IF NOT EXISTS dead_lettered_at timestamptz`);
      // Dropped first whatever its predicate: a re-run rebuilds it with the new one.
      await dropIndex(q, { schema, name: 'outbox_pending_idx' });
      await createIndex(q, { schema, name: 'outbox_pending_idx', on: `${outbox} (id) WHERE published_at IS NULL AND dead_lettered_at IS NULL` });
      await createIndex(q, {
        schema,
        name: 'outbox_pending_key_idx',
        on: `${outbox} (message_key) WHERE published_at IS NULL AND dead_lettered_at IS NULL AND (lease_until IS NOT NULL OR retry_at IS NOT NULL)`,
      });
      await createIndex(q, { schema, name: 'outbox_dead_letter_idx', on: `${outbox} (id) WHERE dead_lettered_at IS NOT NULL` });
    }

    async down(q: QueryRunner): Promise<void> {
      await dropIndex(q, { schema, name: 'outbox_dead_letter_idx' });
      await dropIndex(q, { schema, name: 'outbox_pending_key_idx' });
      await dropIndex(q, { schema, name: 'outbox_pending_idx' });
      await createIndex(q, { schema, name: 'outbox_pending_idx', on: `${outbox} (id) WHERE published_at IS NULL` });
      await q.query(
        `ALTER TABLE ${outbox} DROP COLUMN IF EXISTS claim_token, DROP COLUMN IF EXISTS lease_until, DROP COLUMN IF EXISTS retry_at, DROP COLUMN IF EXISTS dead_lettered_at`,
      );
    }
  };
}
