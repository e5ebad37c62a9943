import type { MigrationInterface, QueryRunner } from 'typeorm';
import { schemaMigrationName, sqlTable } from '@app/common';

/**
 * `emails_final_updated_idx`: retention deletes emails in a final status by the time of their last
 * change (`EmailRepository.deleteFinalBefore`) and finds them through this index instead of
 * scanning every email.
 *
 * `IF NOT EXISTS`: on a large table, create it beforehand with `CREATE INDEX CONCURRENTLY` (same
 * definition) so that writes are not blocked; this migration then only records it.
 */
export function createEmailsRetentionIndexMigration(schema: string): new () => MigrationInterface {
  return class EmailsRetentionIndex implements MigrationInterface {
    name = schemaMigrationName('EmailsRetentionIndex', 1763900000110, schema);

    async up(q: QueryRunner): Promise<void> {
      // The predicate lists exactly TERMINAL_STATUSES (@app/contracts), the statuses retention
      // deletes; email-retention.service.int.spec.ts checks that they stay equal.
      await q.query(
        `CREATE INDEX IF NOT EXISTS emails_final_updated_idx ON ${sqlTable(schema, 'emails')} (updated_at)
         WHERE status IN ('sent', 'failed', 'expired')`,
      );
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`DROP INDEX "${schema}".emails_final_updated_idx`);
    }
  };
}
