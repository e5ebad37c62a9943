import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `mail_requests_final_updated_idx` again, with the final statuses added since (`canceled`,
 * `rejected`, `deduplicated`, `suppressed`), which retention deletes like the others (see
 * mail-requests-retention-index.migration.ts).
 */
export class MailRequestsRetentionIndexV21763900000240 implements MigrationInterface {
  name = 'MailRequestsRetentionIndexV21763900000240';

  async up(q: QueryRunner): Promise<void> {
    // The predicate lists exactly FINAL_STATUSES (requests/mail-requests.repository.ts); mailer-retention.service.int.spec.ts checks it.
    await q.query(`DROP INDEX IF EXISTS mail_requests_final_updated_idx`);
    await q.query(
      `CREATE INDEX mail_requests_final_updated_idx ON mail_requests (updated_at)
       WHERE status IN ('sent', 'failed', 'expired', 'canceled', 'rejected', 'deduplicated', 'suppressed')`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX mail_requests_final_updated_idx`);
    await q.query(`CREATE INDEX mail_requests_final_updated_idx ON mail_requests (updated_at) WHERE status IN ('sent', 'failed', 'expired')`);
  }
}
