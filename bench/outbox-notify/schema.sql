-- A business-like table and the outbox as the migrations leave it (CreateOutbox + OutboxLeases),
-- with the statement-level NOTIFY trigger of CreateOutbox1763900000000.
SET client_min_messages = warning;
DROP TABLE IF EXISTS emails, outbox CASCADE;
DROP FUNCTION IF EXISTS outbox_notify();
CREATE TABLE emails (
  id              uuid        PRIMARY KEY,
  idempotency_key text        UNIQUE,
  request_hash    text        NOT NULL,
  lane            text        NOT NULL,
  recipients      jsonb       NOT NULL,
  subject         text        NOT NULL,
  metadata        jsonb,
  status          text        NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE outbox (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  topic            text        NOT NULL,
  message_key      text        NOT NULL,
  payload          jsonb       NOT NULL,
  headers          jsonb       NOT NULL DEFAULT '{}'::jsonb,
  created_at       timestamptz NOT NULL DEFAULT now(),
  published_at     timestamptz,
  attempts         integer     NOT NULL DEFAULT 0,
  last_error       text,
  claim_token      uuid,
  lease_until      timestamptz,
  retry_at         timestamptz,
  dead_lettered_at timestamptz
);
CREATE INDEX outbox_published_at_idx ON outbox (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX outbox_pending_idx ON outbox (id) WHERE published_at IS NULL AND dead_lettered_at IS NULL;
CREATE INDEX outbox_pending_key_idx ON outbox (message_key) WHERE published_at IS NULL AND dead_lettered_at IS NULL
  AND (lease_until IS NOT NULL OR retry_at IS NOT NULL);
CREATE INDEX outbox_dead_letter_idx ON outbox (id) WHERE dead_lettered_at IS NOT NULL;
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('outbox_inserted', '');
  RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
