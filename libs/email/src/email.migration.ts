import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Creates `emails` and `email_events`, the business side's record of every email. */
export class CreateEmails1763900000100 implements MigrationInterface {
  name = 'CreateEmails1763900000100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE emails (
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
      CREATE TABLE email_events (
        event_id    uuid        PRIMARY KEY,
        email_id    uuid        NOT NULL REFERENCES emails (id),
        type        text        NOT NULL,
        occurred_at timestamptz NOT NULL,
        detail      jsonb       NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX email_events_email_idx ON email_events (email_id, occurred_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE email_events`);
    await q.query(`DROP TABLE emails`);
  }
}
