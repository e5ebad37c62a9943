import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Scheduled sending: `mail_requests.send_at` keeps when a `scheduled` request is due, so that the
 * time survives the loss of Redis (which only holds the delayed job that acts as its timer), and
 * `mail_requests_open_email_idx` again with `scheduled` among the open statuses the sweeper keeps
 * a job for (see mail-requests-sweep-index.migration.ts).
 */
export class MailRequestsSendAt1763900000410 implements MigrationInterface {
  name = 'MailRequestsSendAt1763900000410';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE mail_requests ADD COLUMN send_at timestamptz`);
    // The predicate lists exactly OPEN_STATUSES (requests/mail-requests.repository.ts);
    // mail-requests.repository.int.spec.ts checks it.
    await q.query(`DROP INDEX IF EXISTS mail_requests_open_email_idx`);
    await q.query(
      `CREATE INDEX mail_requests_open_email_idx ON mail_requests (email_id)
       WHERE status IN ('pending', 'scheduled', 'sending', 'retrying')`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX mail_requests_open_email_idx`);
    await q.query(`CREATE INDEX mail_requests_open_email_idx ON mail_requests (email_id) WHERE status IN ('pending', 'sending', 'retrying')`);
    await q.query(`ALTER TABLE mail_requests DROP COLUMN send_at`);
  }
}
