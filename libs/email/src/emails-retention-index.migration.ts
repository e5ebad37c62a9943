import type { MigrationInterface, QueryRunner } from 'typeorm';
import { createIndex, dropIndex, schemaMigrationName, sqlTable, type ConcurrentIndexMigration } from '@app/common';

/**
 * `emails_final_updated_idx`: retention deletes emails in a final status by the time of their last
 * change (`EmailRepository.deleteFinalBefore`) and finds them through this index instead of
 * scanning every email.
 *
 * Built `CONCURRENTLY` outside a transaction (`ConcurrentIndexMigration`): the host's `emails`
 * table takes writes meanwhile. A valid index of that name is kept (e.g. built by hand before).
 */
export function createEmailsRetentionIndexMigration(schema: string): new () => MigrationInterface {
  return class EmailsRetentionIndex implements ConcurrentIndexMigration {
    readonly concurrentIndexes = true;
    name = schemaMigrationName('EmailsRetentionIndex', 1763900000110, schema);

    async up(q: QueryRunner): Promise<void> {
      // The predicate lists exactly TERMINAL_STATUSES (@app/contracts), the statuses retention
      // deletes; email-retention.service.int.spec.ts checks that they stay equal.
      await createIndex(q, { schema, name: 'emails_final_updated_idx', on: `${sqlTable(schema, 'emails')} (updated_at) WHERE status IN ('sent', 'failed', 'expired')` });
    }

    async down(q: QueryRunner): Promise<void> {
      await dropIndex(q, { schema, name: 'emails_final_updated_idx' });
    }
  };
}
