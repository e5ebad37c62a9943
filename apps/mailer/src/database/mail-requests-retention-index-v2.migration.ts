import type { QueryRunner } from 'typeorm';
import { createIndex, dropIndex, type ConcurrentIndexMigration } from '@app/common';

/**
 * `mail_requests_final_updated_idx` again, with the final statuses added since (`canceled`,
 * `rejected`, `deduplicated`, `suppressed`), which retention deletes like the others (see
 * mail-requests-retention-index.migration.ts).
 *
 * Dropped and built `CONCURRENTLY` outside a transaction; a re-run drops whatever is under that
 * name (old index or INVALID remains) and builds it again.
 */
export class MailRequestsRetentionIndexV21763900000240 implements ConcurrentIndexMigration {
  readonly concurrentIndexes = true;
  name = 'MailRequestsRetentionIndexV21763900000240';

  async up(q: QueryRunner): Promise<void> {
    // The predicate lists exactly FINAL_STATUSES (requests/mail-requests.repository.ts); mailer-retention.service.int.spec.ts checks it.
    await dropIndex(q, { name: 'mail_requests_final_updated_idx' });
    await createIndex(q, {
      name: 'mail_requests_final_updated_idx',
      on: `mail_requests (updated_at) WHERE status IN ('sent', 'failed', 'expired', 'canceled', 'rejected', 'deduplicated', 'suppressed')`,
    });
  }

  async down(q: QueryRunner): Promise<void> {
    await dropIndex(q, { name: 'mail_requests_final_updated_idx' });
    await createIndex(q, { name: 'mail_requests_final_updated_idx', on: `mail_requests (updated_at) WHERE status IN ('sent', 'failed', 'expired')` });
  }
}
