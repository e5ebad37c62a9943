import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `dead_letter_replays`: one row per replay of a dead letter (a Kafka `.dlq` message or an outbox
 * row), in the app's own database: what was replayed, to which topic, by whom (the API key's id,
 * or the CLI's operating-system user) and when. Kept: an audit trail, small (one row per act of
 * an operator).
 */
export class CreateDeadLetterReplays1765000000000 implements MigrationInterface {
  name = 'CreateDeadLetterReplays1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE dead_letter_replays (
        id uuid PRIMARY KEY,
        origin text NOT NULL CHECK (origin IN ('kafka', 'outbox')),
        dead_letter_topic text,
        dead_letter_partition integer,
        dead_letter_offset bigint,
        outbox_id bigint,
        target_topic text NOT NULL,
        message_key text,
        replayed_by_key_id text,
        replayed_by text NOT NULL,
        replayed_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now())
      )`);
    await q.query(`CREATE INDEX dead_letter_replays_list_idx ON dead_letter_replays (replayed_at DESC, id DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE dead_letter_replays`);
  }
}

/** The dead-letters lib's migrations, for a host's TypeORM migration list. */
export const DEAD_LETTER_MIGRATIONS = [CreateDeadLetterReplays1765000000000];
