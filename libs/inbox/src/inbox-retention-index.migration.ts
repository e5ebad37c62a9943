import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `inbox_processed_at_idx`: retention deletes the oldest inbox rows (`InboxStore.deleteProcessedBefore`)
 * and finds them through this index instead of scanning every processed message.
 *
 * `IF NOT EXISTS`: on a large table, create it beforehand with `CREATE INDEX CONCURRENTLY` (same
 * definition) so that writes are not blocked; this migration then only records it.
 */
export class InboxRetentionIndex1763900000010 implements MigrationInterface {
  name = 'InboxRetentionIndex1763900000010';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX IF NOT EXISTS inbox_processed_at_idx ON inbox (processed_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX inbox_processed_at_idx`);
  }
}
