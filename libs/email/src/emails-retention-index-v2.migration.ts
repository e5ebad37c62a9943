import type { MigrationInterface, QueryRunner } from 'typeorm';
import { schemaMigrationName, sqlTable } from '@app/common';

/**
 * `emails_final_updated_idx` again, with the final statuses added since (`canceled`, `rejected`,
 * `deduplicated`, `suppressed`): retention deletes emails in every terminal status, and the index
 * must cover exactly those (see emails-retention-index.migration.ts).
 */
export function createEmailsRetentionIndexV2Migration(schema: string): new () => MigrationInterface {
  return class EmailsRetentionIndexV2 implements MigrationInterface {
    name = schemaMigrationName('EmailsRetentionIndexV2', 1763900000120, schema);

    async up(q: QueryRunner): Promise<void> {
      // The predicate lists exactly TERMINAL_STATUSES (@app/contracts); email-retention.service.int.spec.ts checks it.
      await q.query(`DROP INDEX IF EXISTS "${schema}".emails_final_updated_idx`);
      await q.query(
        `CREATE INDEX emails_final_updated_idx ON ${sqlTable(schema, 'emails')} (updated_at)
         WHERE status IN ('sent', 'failed', 'expired', 'canceled', 'rejected', 'deduplicated', 'suppressed')`,
      );
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`DROP INDEX "${schema}".emails_final_updated_idx`);
      await q.query(`CREATE INDEX emails_final_updated_idx ON ${sqlTable(schema, 'emails')} (updated_at) WHERE status IN ('sent', 'failed', 'expired')`);
    }
  };
}
