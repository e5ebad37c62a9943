import type { MigrationInterface, QueryRunner } from 'typeorm';
import { schemaMigrationName, sqlTable } from '@app/common';

/**
 * `inbox_processed_at_idx`: retention deletes the oldest inbox rows (`InboxStore.deleteProcessedBefore`)
 * and finds them through this index instead of scanning every processed message.
 *
 * `IF NOT EXISTS`: on a large table, create it beforehand with `CREATE INDEX CONCURRENTLY` (same
 * definition) so that writes are not blocked; this migration then only records it.
 */
export function createInboxRetentionIndexMigration(schema: string): new () => MigrationInterface {
  return class InboxRetentionIndex implements MigrationInterface {
    name = schemaMigrationName('InboxRetentionIndex', 1763900000010, schema);

    async up(q: QueryRunner): Promise<void> {
      await q.query(`CREATE INDEX IF NOT EXISTS inbox_processed_at_idx ON ${sqlTable(schema, 'inbox')} (processed_at)`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`DROP INDEX "${schema}".inbox_processed_at_idx`);
    }
  };
}
