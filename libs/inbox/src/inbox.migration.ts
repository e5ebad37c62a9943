import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Creates the `inbox` table used by {@link InboxStore}. */
export class CreateInbox1763900000001 implements MigrationInterface {
  name = 'CreateInbox1763900000001';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE inbox (
        consumer     text        NOT NULL,
        message_id   text        NOT NULL,
        processed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, message_id)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE inbox`);
  }
}
