import type { MigrationInterface, QueryRunner } from 'typeorm';
import { schemaMigrationName, sqlTable } from '@app/common';

/**
 * Creates `unsubscribes`: every opt-out a recipient made through an unsubscribe link, one row per
 * address and category (no category: every category). Kept for ever, on purpose: it is the
 * record of the recipient's consent, and it outlives the email it came from (no foreign key to
 * `emails`, which retention prunes).
 */
export function createUnsubscribesMigration(schema: string): new () => MigrationInterface {
  const table = sqlTable(schema, 'unsubscribes');
  return class CreateUnsubscribes implements MigrationInterface {
    name = schemaMigrationName('CreateUnsubscribes', 1763900000160, schema);

    async up(q: QueryRunner): Promise<void> {
      await q.query(`
        CREATE TABLE ${table} (
          id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          event_id    uuid        NOT NULL UNIQUE,
          address     text        NOT NULL CHECK (address = lower(address)),
          category    text,
          email_id    uuid        NOT NULL,
          created_at  timestamptz NOT NULL DEFAULT now()
        )`);
      // One opt-out per address and category, a category-less one included (coalesce: a NULL
      // would never conflict with another). Recording is ON CONFLICT DO NOTHING on this index.
      await q.query(`CREATE UNIQUE INDEX unsubscribes_address_category_key ON ${table} (address, (coalesce(category, '')))`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`DROP TABLE ${table}`);
    }
  };
}
