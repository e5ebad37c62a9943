-- One accepted email: the business row and its outbox row in one transaction (what send() does).
\set n random(1, 2000000000)
BEGIN;
INSERT INTO emails (id, idempotency_key, request_hash, lane, recipients, subject, status)
  VALUES (gen_random_uuid(), NULL, md5(:n::text), 'transactional', jsonb_build_array('user' || :n || '@example.com'), 'Your code', 'queued');
INSERT INTO outbox (topic, message_key, payload)
  VALUES ('mail.requests.transactional', md5(:n::text),
          jsonb_build_object('to', jsonb_build_array('user' || :n || '@example.com'), 'subject', 'Your code', 'text', repeat('x', 400)));
COMMIT;
