import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The tables of the mailer's checks (README "Sending platform"):
 * - `suppressions`: addresses not to mail, stored lower-case (matched case-insensitively), per
 *   category or, with a null category, for every category; one entry per address and category.
 * - `mail_dedup_keys`: one row per content fingerprint, held by the email that claimed it until
 *   `expires_at`; the primary key makes two instances racing for the same key take turns.
 * - `mail_frequency_counts`: emails counted per recipient, category and UTC day. `count_before`
 *   is what the last upsert found (PostgreSQL 15 has no `RETURNING OLD`), so one statement both
 *   counts and tells each batch where it started.
 */
export class SendingChecks1763900000310 implements MigrationInterface {
  name = 'SendingChecks1763900000310';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE suppressions (
        address         text        NOT NULL CHECK (address = lower(address)),
        category        text,
        reason          text        NOT NULL,
        source_email_id uuid,
        created_at      timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX suppressions_address_category_key ON suppressions (address, category) NULLS NOT DISTINCT`);
    await q.query(`
      CREATE TABLE mail_dedup_keys (
        key        text        PRIMARY KEY,
        email_id   uuid        NOT NULL,
        expires_at timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX mail_dedup_keys_expires_idx ON mail_dedup_keys (expires_at)`);
    await q.query(`
      CREATE TABLE mail_frequency_counts (
        recipient    text    NOT NULL,
        category     text    NOT NULL,
        day          date    NOT NULL,
        count        integer NOT NULL,
        count_before integer NOT NULL DEFAULT 0,
        PRIMARY KEY (recipient, category, day)
      )`);
    await q.query(`CREATE INDEX mail_frequency_counts_day_idx ON mail_frequency_counts (day)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE mail_frequency_counts`);
    await q.query(`DROP TABLE mail_dedup_keys`);
    await q.query(`DROP TABLE suppressions`);
  }
}
