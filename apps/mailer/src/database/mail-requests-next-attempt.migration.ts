import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `mail_requests.next_attempt_at`: when a `retrying` request's next attempt is due, as its
 * `email.retrying` event announced. BullMQ holds the timer; this column is what the sweeper
 * rebuilds it from after Redis lost the job, so the attempt still runs at the announced time.
 * Adding a nullable column without a default is a catalogue change only (no table rewrite).
 */
export class MailRequestsNextAttempt1763900000285 implements MigrationInterface {
  name = 'MailRequestsNextAttempt1763900000285';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE mail_requests ADD COLUMN IF NOT EXISTS next_attempt_at timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE mail_requests DROP COLUMN next_attempt_at`);
  }
}
