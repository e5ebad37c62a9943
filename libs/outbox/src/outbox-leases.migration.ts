import type { MigrationInterface, QueryRunner } from 'typeorm';
import { schemaMigrationName, sqlTable } from '@app/common';

/**
 * Leased claims, per-row retry back-off and dead letters for the outbox relay (in `schema`).
 *
 * - `claim_token` / `lease_until`: a relay claims rows for a bounded time; the token fences a
 *   relay whose lease ran out, so its late "published" mark cannot land;
 * - `retry_at`: a row whose publish failed waits until then (its key waits with it);
 * - `dead_lettered_at`: the transport rejected the row permanently; kept for inspection and
 *   requeue, never retried on its own.
 */
export function createOutboxLeasesMigration(schema: string): new () => MigrationInterface {
  const outbox = sqlTable(schema, 'outbox');
  // Indexes live in their table's schema; DROP INDEX needs the qualified name.
  const index = (name: string): string => `"${schema}".${name}`;
  return class OutboxLeases implements MigrationInterface {
    name = schemaMigrationName('OutboxLeases', 1763900000002, schema);

    async up(q: QueryRunner): Promise<void> {
      await q.query(`
        ALTER TABLE ${outbox}
          ADD COLUMN claim_token      uuid,
          ADD COLUMN lease_until      timestamptz,
          ADD COLUMN retry_at         timestamptz,
          ADD COLUMN dead_lettered_at timestamptz`);
      await q.query(`DROP INDEX ${index('outbox_pending_idx')}`);
      await q.query(`CREATE INDEX outbox_pending_idx ON ${outbox} (id) WHERE published_at IS NULL AND dead_lettered_at IS NULL`);
      await q.query(
        `CREATE INDEX outbox_pending_key_idx ON ${outbox} (message_key) WHERE published_at IS NULL AND dead_lettered_at IS NULL
           AND (lease_until IS NOT NULL OR retry_at IS NOT NULL)`,
      );
      await q.query(`CREATE INDEX outbox_dead_letter_idx ON ${outbox} (id) WHERE dead_lettered_at IS NOT NULL`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`DROP INDEX ${index('outbox_dead_letter_idx')}`);
      await q.query(`DROP INDEX ${index('outbox_pending_key_idx')}`);
      await q.query(`DROP INDEX ${index('outbox_pending_idx')}`);
      await q.query(`CREATE INDEX outbox_pending_idx ON ${outbox} (id) WHERE published_at IS NULL`);
      await q.query(
        `ALTER TABLE ${outbox} DROP COLUMN claim_token, DROP COLUMN lease_until, DROP COLUMN retry_at, DROP COLUMN dead_lettered_at`,
      );
    }
  };
}
