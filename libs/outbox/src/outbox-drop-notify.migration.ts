import type { MigrationInterface, QueryRunner } from 'typeorm';
import { schemaMigrationName, sqlTable } from '@app/common';
import { outboxNotifyFunctionSql } from './outbox.migration.js';

/**
 * Drops the outbox's insert trigger (a NOTIFY per inserting statement) in `schema`.
 *
 * A transaction that has notified takes one lock for the whole server at commit and holds it
 * through its WAL flush, so every such commit of the host waited for the previous one:
 * `bench/outbox-notify/run.sh` measured 650 vs 1,420 commits/s with 8 clients and 245 vs 1,280
 * with 32. The relay is now woken in-process after `OutboxWriter`'s transaction commits, and
 * polls (one index-only query) for rows written by other processes.
 */
export function createOutboxDropNotifyMigration(schema: string): new () => MigrationInterface {
  const outbox = sqlTable(schema, 'outbox');
  const notify = `"${schema}".outbox_notify()`;
  return class OutboxDropNotify implements MigrationInterface {
    name = schemaMigrationName('OutboxDropNotify', 1763900000003, schema);

    async up(q: QueryRunner): Promise<void> {
      await q.query(`DROP TRIGGER IF EXISTS outbox_notify ON ${outbox}`);
      await q.query(`DROP FUNCTION IF EXISTS ${notify}`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(outboxNotifyFunctionSql(schema));
      await q.query(`CREATE TRIGGER outbox_notify AFTER INSERT ON ${outbox} FOR EACH STATEMENT EXECUTE FUNCTION ${notify}`);
    }
  };
}
