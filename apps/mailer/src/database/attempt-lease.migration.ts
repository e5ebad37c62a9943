import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `mail_requests.lease_until`: how long the attempt in `sending` is known to be alive. The worker
 * sending it renews the lease while it talks SMTP; only after it ran out is the attempt taken as
 * dead (its worker crashed or lost contact) and the email tried again.
 */
export class MailAttemptLease1763900000230 implements MigrationInterface {
  name = 'MailAttemptLease1763900000230';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE mail_requests ADD COLUMN lease_until timestamptz`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE mail_requests DROP COLUMN lease_until`);
  }
}
