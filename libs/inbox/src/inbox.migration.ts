import type { MigrationInterface, QueryRunner } from 'typeorm';
import { schemaMigrationName, sqlTable } from '@app/common';

/** Creates the `inbox` table used by {@link InboxStore} in `schema` (and the schema). */
export function createInboxMigration(schema: string): new () => MigrationInterface {
  const inbox = sqlTable(schema, 'inbox');
  return class CreateInbox implements MigrationInterface {
    name = schemaMigrationName('CreateInbox', 1763900000001, schema);

    async up(q: QueryRunner): Promise<void> {
      await q.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await q.query(`
        CREATE TABLE ${inbox} (
          consumer     text        NOT NULL,
          message_id   text        NOT NULL,
          processed_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (consumer, message_id)
        )`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`DROP TABLE ${inbox}`);
    }
  };
}
