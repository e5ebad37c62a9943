import type { MigrationInterface, QueryRunner } from 'typeorm';
import { createIndex, dropIndex, schemaMigrationName, sqlTable, type ConcurrentIndexMigration } from '@app/common';

/**
 * `inbox_processed_at_idx`: retention deletes the oldest inbox rows (`InboxStore.deleteProcessedBefore`)
 * and finds them through this index instead of scanning every processed message.
 *
 * Built `CONCURRENTLY` outside a transaction (`ConcurrentIndexMigration`): the inbox takes writes
 * meanwhile. A valid index of that name is kept (e.g. built by hand before).
 */
export function createInboxRetentionIndexMigration(schema: string): new () => MigrationInterface {
  return class InboxRetentionIndex implements ConcurrentIndexMigration {
    readonly concurrentIndexes = true;
    name = schemaMigrationName('InboxRetentionIndex', 1763900000010, schema);

    async up(q: QueryRunner): Promise<void> {
      await createIndex(q, { schema, name: 'inbox_processed_at_idx', on: `${sqlTable(schema, 'inbox')} (processed_at)` });
    }

    async down(q: QueryRunner): Promise<void> {
      await dropIndex(q, { schema, name: 'inbox_processed_at_idx' });
    }
  };
}
