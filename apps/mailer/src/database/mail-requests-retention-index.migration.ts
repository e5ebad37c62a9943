import type { QueryRunner } from 'typeorm';
import { createIndex, dropIndex, type ConcurrentIndexMigration } from '@app/common';

/**
 * `mail_requests_final_updated_idx`: retention deletes final requests by the time of their last
 * change (`mailRequestQueries.deleteFinal`) and finds them through this index instead of
 * scanning every request.
 *
 * Built `CONCURRENTLY` outside a transaction (`ConcurrentIndexMigration`): requests keep arriving
 * meanwhile. A valid index of that name is kept (e.g. built by hand before).
 */
export class MailRequestsRetentionIndex1763900000220 implements ConcurrentIndexMigration {
  readonly concurrentIndexes = true;
  name = 'MailRequestsRetentionIndex1763900000220';

  async up(q: QueryRunner): Promise<void> {
    // The predicate lists exactly FINAL_STATUSES (requests/mail-requests.repository.ts);
    // mailer-retention.service.int.spec.ts checks that they stay equal.
    await createIndex(q, { name: 'mail_requests_final_updated_idx', on: `mail_requests (updated_at) WHERE status IN ('sent', 'failed', 'expired')` });
  }

  async down(q: QueryRunner): Promise<void> {
    await dropIndex(q, { name: 'mail_requests_final_updated_idx' });
  }
}
