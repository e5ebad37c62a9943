import type { MigrationInterface, QueryRunner } from 'typeorm';
import { createIndex, dropIndex, type ConcurrentIndexMigration } from '@app/common';

/**
 * Creates `webhook_endpoints`, `webhook_deliveries` (one row per event and endpoint, created in
 * the transaction that applies the event) and `webhook_attempts` (one row per HTTP request).
 * Every query of `webhookQueries` is served by one of these indexes.
 */
export class CreateWebhooks1763900000200 implements MigrationInterface {
  name = 'CreateWebhooks1763900000200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE webhook_endpoints (
        id                          uuid        PRIMARY KEY,
        url                         text        NOT NULL,
        events                      text[]      NOT NULL,
        description                 text,
        enabled                     boolean     NOT NULL DEFAULT true,
        disabled_reason             text,
        disabled_at                 timestamptz,
        secret                      text        NOT NULL,
        previous_secret             text,
        previous_secret_expires_at  timestamptz,
        failing_since               timestamptz,
        created_at                  timestamptz NOT NULL DEFAULT now(),
        updated_at                  timestamptz NOT NULL DEFAULT now()
      )`);
    // Fan-out: the enabled endpoints subscribed to an event type (events @> ARRAY[type]).
    await q.query(`CREATE INDEX webhook_endpoints_events_idx ON webhook_endpoints USING gin (events) WHERE enabled`);
    await q.query(`CREATE INDEX webhook_endpoints_created_idx ON webhook_endpoints (created_at, id)`);
    await q.query(`
      CREATE TABLE webhook_deliveries (
        id              uuid        PRIMARY KEY,
        endpoint_id     uuid        NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
        event_id        uuid        NOT NULL,
        email_id        uuid        NOT NULL,
        event_type      text        NOT NULL,
        payload         text        NOT NULL,
        status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts        integer     NOT NULL DEFAULT 0,
        retry_offset    integer     NOT NULL DEFAULT 0,
        next_attempt_at timestamptz,
        last_error      text,
        created_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT webhook_deliveries_event_uq UNIQUE (endpoint_id, event_id)
      )`);
    await q.query(`CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, created_at, id)`);
    await q.query(
      `CREATE INDEX webhook_deliveries_endpoint_status_idx ON webhook_deliveries (endpoint_id, status, created_at, id)`,
    );
    await q.query(`CREATE INDEX webhook_deliveries_email_idx ON webhook_deliveries (email_id, created_at)`);
    await q.query(`CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at, id) WHERE status = 'pending'`);
    await q.query(`CREATE INDEX webhook_deliveries_finished_idx ON webhook_deliveries (updated_at) WHERE status <> 'pending'`);
    await q.query(`
      CREATE TABLE webhook_attempts (
        delivery_id   uuid        NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
        number        integer     NOT NULL,
        started_at    timestamptz NOT NULL,
        status_code   integer,
        latency_ms    integer     NOT NULL,
        response_body text,
        error         text,
        PRIMARY KEY (delivery_id, number)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE webhook_attempts`);
    await q.query(`DROP TABLE webhook_deliveries`);
    await q.query(`DROP TABLE webhook_endpoints`);
  }
}

/**
 * Endpoints get an owner (the API key that created them; NULL for rows from before, which only a
 * `keys:admin` key sees), and the indexes of the cursor-paginated lists. The signing secrets are
 * encrypted by the app at start-up, not here: the key is in the app's configuration, which a
 * migration does not see (`WebhookSecretsReencryptionService`).
 */
export class WebhookOwners1763900000300 implements ConcurrentIndexMigration {
  // Outside a transaction: webhook_deliveries grows with every status event, and keeps taking
  // them while its index is built CONCURRENTLY. Each step is safe to run again.
  readonly concurrentIndexes = true;
  name = 'WebhookOwners1763900000300';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE webhook_endpoints ADD COLUMN IF NOT EXISTS owner_key_id text`);
    // A key's own list, and the count of its endpoints under the creation lock.
    await createIndex(q, { name: 'webhook_endpoints_owner_idx', on: `webhook_endpoints (owner_key_id, created_at, id)` });
    // The keyset of an email's deliveries is (created_at, id).
    await createIndex(q, { name: 'webhook_deliveries_email_page_idx', on: `webhook_deliveries (email_id, created_at, id)` });
    await dropIndex(q, { name: 'webhook_deliveries_email_idx' });
  }

  async down(q: QueryRunner): Promise<void> {
    await createIndex(q, { name: 'webhook_deliveries_email_idx', on: `webhook_deliveries (email_id, created_at)` });
    await dropIndex(q, { name: 'webhook_deliveries_email_page_idx' });
    await dropIndex(q, { name: 'webhook_endpoints_owner_idx' });
    await q.query(`ALTER TABLE webhook_endpoints DROP COLUMN IF EXISTS owner_key_id`);
  }
}
