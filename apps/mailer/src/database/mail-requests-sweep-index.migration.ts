import type { QueryRunner } from 'typeorm';
import { createIndex, dropIndex, type ConcurrentIndexMigration } from '@app/common';

/**
 * `mail_requests_open_email_idx`: the open requests in email id order, the order the sweeper pages
 * through them (`mailRequestQueries.listOpen`). A page is then read from this index alone, without
 * a sort and without touching the final requests that make up almost all of the table.
 * (`mail_requests_open_idx` holds the same rows in `created_at` order, which forced a sort.)
 *
 * Built `CONCURRENTLY` outside a transaction (`ConcurrentIndexMigration`). A valid index of that
 * name is kept (e.g. built by hand before).
 */
export class MailRequestsSweepIndex1763900000210 implements ConcurrentIndexMigration {
  readonly concurrentIndexes = true;
  name = 'MailRequestsSweepIndex1763900000210';

  async up(q: QueryRunner): Promise<void> {
    // The predicate lists exactly OPEN_STATUSES (requests/mail-requests.repository.ts). A status
    // added there needs a migration that recreates this index with it, or the sweeper falls back
    // to scanning every request (mail-requests.repository.int.spec.ts checks both).
    await createIndex(q, { name: 'mail_requests_open_email_idx', on: `mail_requests (email_id) WHERE status IN ('pending', 'sending', 'retrying')` });
  }

  async down(q: QueryRunner): Promise<void> {
    await dropIndex(q, { name: 'mail_requests_open_email_idx' });
  }
}
