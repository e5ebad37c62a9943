import type { MigrationInterface, QueryRunner } from 'typeorm';
import { createIndex, dropIndex, schemaMigrationName, sqlTable, type ConcurrentIndexMigration } from '@app/common';

/**
 * `emails_final_updated_idx` again, with the final statuses added since (`canceled`, `rejected`,
 * `deduplicated`, `suppressed`): retention deletes emails in every terminal status, and the index
 * must cover exactly those (see emails-retention-index.migration.ts).
 *
 * Dropped and built `CONCURRENTLY` outside a transaction: writes to `emails` go on. Re-run after
 * an interruption, it drops whatever it finds under that name (the old index, or the INVALID
 * remains of an interrupted build) and builds it again. Databases that ran it before this change
 * have the same index and do not run it again.
 */
export function createEmailsRetentionIndexV2Migration(schema: string): new () => MigrationInterface {
  return class EmailsRetentionIndexV2 implements ConcurrentIndexMigration {
    readonly concurrentIndexes = true;
    name = schemaMigrationName('EmailsRetentionIndexV2', 1763900000120, schema);

    async up(q: QueryRunner): Promise<void> {
      // The predicate lists exactly TERMINAL_STATUSES (@app/contracts); email-retention.service.int.spec.ts checks it.
      await dropIndex(q, { schema, name: 'emails_final_updated_idx' });
      await createIndex(q, {
        schema,
        name: 'emails_final_updated_idx',
        on: `${sqlTable(schema, 'emails')} (updated_at) WHERE status IN ('sent', 'failed', 'expired', 'canceled', 'rejected', 'deduplicated', 'suppressed')`,
      });
    }

    async down(q: QueryRunner): Promise<void> {
      await dropIndex(q, { schema, name: 'emails_final_updated_idx' });
      await createIndex(q, { schema, name: 'emails_final_updated_idx', on: `${sqlTable(schema, 'emails')} (updated_at) WHERE status IN ('sent', 'failed', 'expired')` });
    }
  };
}
