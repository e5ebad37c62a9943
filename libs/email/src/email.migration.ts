import type { MigrationInterface, QueryRunner } from 'typeorm';
import { schemaMigrationName, sqlTable } from '@app/common';

/** Creates `emails` and `email_events`, the host's record of every email, in `schema` (and the schema). */
export function createEmailsMigration(schema: string): new () => MigrationInterface {
  const emails = sqlTable(schema, 'emails');
  const events = sqlTable(schema, 'email_events');
  return class CreateEmails implements MigrationInterface {
    name = schemaMigrationName('CreateEmails', 1763900000100, schema);

    async up(q: QueryRunner): Promise<void> {
      await q.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
      await q.query(`
        CREATE TABLE ${emails} (
          id              uuid        PRIMARY KEY,
          idempotency_key text        UNIQUE,
          request_hash    text        NOT NULL,
          lane            text        NOT NULL,
          recipients      jsonb       NOT NULL,
          subject         text        NOT NULL,
          metadata        jsonb,
          expires_at      timestamptz,
          status          text        NOT NULL,
          attempt         integer     NOT NULL DEFAULT 0,
          message_id      text,
          smtp_response   text,
          created_at      timestamptz NOT NULL DEFAULT now(),
          updated_at      timestamptz NOT NULL DEFAULT now()
        )`);
      await q.query(`
        CREATE TABLE ${events} (
          event_id    uuid        PRIMARY KEY,
          email_id    uuid        NOT NULL REFERENCES ${emails} (id),
          type        text        NOT NULL,
          occurred_at timestamptz NOT NULL,
          detail      jsonb       NOT NULL,
          received_at timestamptz NOT NULL DEFAULT now()
        )`);
      await q.query(`CREATE INDEX email_events_email_idx ON ${events} (email_id, occurred_at)`);
    }

    async down(q: QueryRunner): Promise<void> {
      await q.query(`DROP TABLE ${events}`);
      await q.query(`DROP TABLE ${emails}`);
    }
  };
}
