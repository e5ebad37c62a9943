import type { MigrationInterface, QueryRunner } from 'typeorm';
import { schemaMigrationName, sqlTable } from '@app/common';

/** The channel the insert trigger of the outbox in `schema` notified, until `OutboxDropNotify` dropped it. */
export function outboxChannel(schema = 'public'): string {
  return schema === 'public' ? 'outbox_inserted' : `${schema}_outbox_inserted`;
}

/** The trigger function's body: NOTIFY the relay once per inserting statement. */
export function outboxNotifyFunctionSql(schema: string): string {
  return `
        CREATE FUNCTION "${schema}".outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('${outboxChannel(schema)}', '');
          RETURN NULL;
        END $$`;
}

/**
 * Creates the `outbox` table in `schema` (and the schema). Include it in the migrations of every
 * app that imports `OutboxModule`. Its AFTER INSERT trigger (a NOTIFY) was dropped again by
 * `OutboxDropNotify`: see there.
 */
export function createOutboxMigration(schema: string): new () => MigrationInterface {
  const outbox = sqlTable(schema, 'outbox');
  const notify = `"${schema}".outbox_notify()`;
  return class CreateOutbox implements MigrationInterface {
    name = schemaMigrationName('CreateOutbox', 1763900000000, schema);

    async up(q: QueryRunner): Promise<void> {
      await q.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await q.query(`
        CREATE TABLE ${outbox} (
          id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          topic        text        NOT NULL,
          message_key  text        NOT NULL,
          payload      jsonb       NOT NULL,
          headers      jsonb       NOT NULL DEFAULT '{}'::jsonb,
          created_at   timestamptz NOT NULL DEFAULT now(),
          published_at timestamptz,
          attempts     integer     NOT NULL DEFAULT 0,
          last_error   text
        )`);
      await q.query(`CREATE INDEX outbox_pending_idx ON ${outbox} (id) WHERE published_at IS NULL`);
      await q.query(`CREATE INDEX outbox_published_at_idx ON ${outbox} (published_at) WHERE published_at IS NOT NULL`);
      await q.query(outboxNotifyFunctionSql(schema));
      await q.query(`CREATE TRIGGER outbox_notify AFTER INSERT ON ${outbox} FOR EACH STATEMENT EXECUTE FUNCTION ${notify}`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`DROP TABLE ${outbox}`);
      await q.query(`DROP FUNCTION ${notify}`);
    }
  };
}
