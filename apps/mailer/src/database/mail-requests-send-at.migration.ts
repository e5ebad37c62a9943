import type { QueryRunner } from 'typeorm';
import { createIndex, dropIndex, type ConcurrentIndexMigration } from '@app/common';

/**
 * Scheduled sending: `mail_requests.send_at` keeps when a `scheduled` request is due, so that the
 * time survives the loss of Redis (which only holds the delayed job that acts as its timer), and
 * `mail_requests_open_email_idx` again with `scheduled` among the open statuses the sweeper keeps
 * a job for (see mail-requests-sweep-index.migration.ts).
 *
 * Outside a transaction (`ConcurrentIndexMigration`): the column is added under the session's
 * lock timeout (a metadata-only change), the index dropped and built `CONCURRENTLY`. Each step is
 * safe to run again after an interruption.
 */
export class MailRequestsSendAt1763900000410 implements ConcurrentIndexMigration {
  readonly concurrentIndexes = true;
  name = 'MailRequestsSendAt1763900000410';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE mail_requests ADD COLUMN IF NOT EXISTS send_at timestamptz`);
    // The predicate lists exactly OPEN_STATUSES (requests/mail-requests.repository.ts);
    // mail-requests.repository.int.spec.ts checks it.
    await dropIndex(q, { name: 'mail_requests_open_email_idx' });
    await createIndex(q, { name: 'mail_requests_open_email_idx', on: `mail_requests (email_id) WHERE status IN ('pending', 'scheduled', 'sending', 'retrying')` });
  }

  async down(q: QueryRunner): Promise<void> {
    await dropIndex(q, { name: 'mail_requests_open_email_idx' });
    await createIndex(q, { name: 'mail_requests_open_email_idx', on: `mail_requests (email_id) WHERE status IN ('pending', 'sending', 'retrying')` });
    await q.query(`ALTER TABLE mail_requests DROP COLUMN IF EXISTS send_at`);
  }
}
