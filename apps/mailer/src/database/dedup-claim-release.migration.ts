import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A dedup claim (`mail_dedup_keys`, see checks/dedup.check.ts) is released when the email that
 * holds it ends without being sent, so the same content can be sent again: a newsletter that
 * failed during an SMTP outage is not `deduplicated` when it is resent.
 *
 * A trigger, so that the release is one rule in one place, in the same transaction as whichever
 * statement writes the final status (the checks' `endMany`, `finishAttempt`, a cancel, an expiry,
 * a suppression at the start of an attempt, a reconciliation), including statements added later.
 * Its `WHEN` lists the final statuses other than `sent` in which an email may hold a claim
 * (`FINAL_STATUSES` in requests/mail-requests.repository.ts without `sent` and `deduplicated`, which
 * never holds one): change both together, with a new migration. `unknown` keeps its claim (the
 * email may have been delivered); reconciliation ending it `failed` releases it.
 *
 * The index on `email_id` is what the release looks the claim up by. It is built `CONCURRENTLY`
 * (outside a transaction, so this migration opts out of one) so intake keeps claiming keys
 * meanwhile; creating the trigger takes a brief lock on `mail_requests`, bounded by `lock_timeout`
 * so a long transaction makes the migration fail (and the deploy retry) instead of queueing every
 * write behind it.
 */
export class DedupClaimRelease1763900000500 implements MigrationInterface {
  name = 'DedupClaimRelease1763900000500';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    // A CONCURRENTLY build that failed leaves an invalid index that IF NOT EXISTS would keep.
    const invalid: unknown[] = await q.query(
      `SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('mail_dedup_keys_email_idx') AND NOT indisvalid`,
    );
    if (invalid.length > 0) await q.query(`DROP INDEX CONCURRENTLY mail_dedup_keys_email_idx`);
    await q.query(`CREATE INDEX CONCURRENTLY IF NOT EXISTS mail_dedup_keys_email_idx ON mail_dedup_keys (email_id)`);
    await q.query(`SET lock_timeout = '5s'`);
    try {
      await q.query(`
        CREATE OR REPLACE FUNCTION mail_release_dedup_claim() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          DELETE FROM mail_dedup_keys WHERE email_id = NEW.email_id;
          RETURN NULL;
        END $$`);
      await q.query(`
        CREATE OR REPLACE TRIGGER mail_requests_release_dedup_claim
          AFTER UPDATE OF status ON mail_requests
          FOR EACH ROW
          WHEN (NEW.status IN ('failed', 'expired', 'canceled', 'rejected', 'suppressed') AND OLD.status IS DISTINCT FROM NEW.status)
          EXECUTE FUNCTION mail_release_dedup_claim()`);
    } finally {
      await q.query(`RESET lock_timeout`);
    }
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TRIGGER IF EXISTS mail_requests_release_dedup_claim ON mail_requests`);
    await q.query(`DROP FUNCTION IF EXISTS mail_release_dedup_claim()`);
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS mail_dedup_keys_email_idx`);
  }
}
