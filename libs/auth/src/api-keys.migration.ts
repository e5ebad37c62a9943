import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `api_keys` (README "Security"): one row per key created through the API or the CLI, in the
 * app's own database. Only the key's SHA-256 is stored (`hash`, unique: the lookup of every
 * request); `prefix` is what lists show. `created_at` is kept to the millisecond so that a list
 * cursor (`created_at`, `id`) survives a round trip through a JavaScript `Date`.
 */
export class CreateApiKeys1763900000900 implements MigrationInterface {
  name = 'CreateApiKeys1763900000900';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE api_keys (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        prefix text NOT NULL,
        hash text NOT NULL,
        scopes text[] NOT NULL,
        sender_domains text[],
        created_at timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
        last_used_at timestamptz,
        revoked_at timestamptz
      )`);
    await q.query(`CREATE UNIQUE INDEX api_keys_hash_idx ON api_keys (hash)`);
    await q.query(`CREATE INDEX api_keys_list_idx ON api_keys (created_at DESC, id DESC)`);
    // The webhook fan-out skips endpoints of revoked keys; endpoints name their owner as text
    // (bootstrap keys are 'bootstrap:<n>', not uuids).
    await q.query(`CREATE INDEX api_keys_revoked_idx ON api_keys ((id::text)) WHERE revoked_at IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE api_keys`);
  }
}

/** The auth lib's migrations, for a host's TypeORM migration list. */
export const API_KEY_MIGRATIONS = [CreateApiKeys1763900000900];
