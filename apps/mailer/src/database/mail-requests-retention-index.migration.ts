import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `mail_requests_final_updated_idx`: retention deletes final requests by the time of their last
 * change (`mailRequestQueries.deleteFinal`) and finds them through this index instead of
 * scanning every request.
 *
 * `IF NOT EXISTS`: on a large table, create it beforehand with `CREATE INDEX CONCURRENTLY` (same
 * definition) so that writes are not blocked; this migration then only records it.
 */
export class MailRequestsRetentionIndex1763900000220 implements MigrationInterface {
  name = 'MailRequestsRetentionIndex1763900000220';

  async up(q: QueryRunner): Promise<void> {
    // The predicate lists exactly FINAL_STATUSES (requests/mail-requests.repository.ts);
    // mailer-retention.service.int.spec.ts checks that they stay equal.
    await q.query(
      `CREATE INDEX IF NOT EXISTS mail_requests_final_updated_idx ON mail_requests (updated_at)
       WHERE status IN ('sent', 'failed', 'expired')`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX mail_requests_final_updated_idx`);
  }
}
