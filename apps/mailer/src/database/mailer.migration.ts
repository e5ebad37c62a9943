import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `mail_requests`: one row per email id (the idempotency key of the whole mailer);
 * `mail_attempts`: one row per SMTP hand-off, written before talking SMTP.
 */
export class CreateMailRequests1763900000200 implements MigrationInterface {
  name = 'CreateMailRequests1763900000200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE mail_requests (
        email_id      uuid        PRIMARY KEY,
        lane          text        NOT NULL,
        payload       jsonb       NOT NULL,
        status        text        NOT NULL,
        attempts      integer     NOT NULL DEFAULT 0,
        message_id    text,
        smtp_response text,
        last_error    text,
        expires_at    timestamptz,
        created_at    timestamptz NOT NULL DEFAULT now(),
        updated_at    timestamptz NOT NULL DEFAULT now(),
        sent_at       timestamptz
      )`);
    await q.query(`CREATE INDEX mail_requests_open_idx ON mail_requests (created_at) WHERE status IN ('pending', 'sending', 'retrying')`);
    await q.query(`
      CREATE TABLE mail_attempts (
        email_id      uuid        NOT NULL REFERENCES mail_requests (email_id),
        attempt       integer     NOT NULL,
        started_at    timestamptz NOT NULL DEFAULT now(),
        finished_at   timestamptz,
        outcome       text,
        smtp_code     integer,
        smtp_response text,
        PRIMARY KEY (email_id, attempt)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE mail_attempts`);
    await q.query(`DROP TABLE mail_requests`);
  }
}
