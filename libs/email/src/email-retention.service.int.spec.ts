import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { EMAIL_STATUSES, TERMINAL_STATUSES } from '@app/contracts';
import { InboxStore } from '@app/inbox';
import { createMigratedDatabase, dropMigratedDatabase, explainWithoutSeqScan } from '@app/testing';
import { DEFAULT_EMAIL_SCHEMA, EMAIL_MIGRATIONS } from './index.js';
import { EmailRepository, emailQueries } from './email.repository.js';
import { EmailRetentionService } from './email-retention.service.js';
import type { EmailRetentionOptions } from './email.options.js';

const DAY = 86_400_000;

/**
 * Retention of the email module on real PostgreSQL: one pass deletes exactly the rows past their
 * age (final emails with their events, old inbox rows) and leaves everything else.
 */
describe('EmailRetentionService (PostgreSQL)', () => {
  let url: string;
  let dataSource: DataSource;

  const service = (retention: Partial<EmailRetentionOptions>): EmailRetentionService =>
    new EmailRetentionService(dataSource, new EmailRepository(), new InboxStore({ schema: DEFAULT_EMAIL_SCHEMA }), {
      appName: 'retention-int',
      databaseUrl: url,
      kafka: { brokers: ['127.0.0.1:9092'], clientId: 'retention-int' },
      retention,
    });

  /** One email per (status, age), named `<status>-<age>`, each with two events. */
  async function seed(): Promise<void> {
    await dataSource.query(`TRUNCATE email_loop.emails, email_loop.email_events, email_loop.inbox`);
    const ages = { old: '91 days', recent: '89 days', fresh: '1 minute' };
    for (const status of EMAIL_STATUSES) {
      for (const [age, interval] of Object.entries(ages)) {
        const key = `${status}-${age}`;
        // Created long before: the age counts from the last change, not from creation.
        await dataSource.query(
          `WITH e AS (
             INSERT INTO email_loop.emails (id, idempotency_key, request_hash, lane, recipients, subject, status, created_at, updated_at)
             VALUES (gen_random_uuid(), $1, 'h', 'transactional', '{"to":["a@example.com"]}', $1, $2,
                     now() - interval '200 days', now() - $3::interval)
             RETURNING id)
           INSERT INTO email_loop.email_events (event_id, email_id, type, occurred_at, detail)
           SELECT gen_random_uuid(), e.id, t, now() - $3::interval, '{}' FROM e, unnest(ARRAY['email.accepted', 'email.sent']) t`,
          [key, status, interval],
        );
      }
    }
    await dataSource.query(
      `INSERT INTO email_loop.inbox (consumer, message_id, processed_at) VALUES
         ('email-status', 'old-1', now() - interval '15 days'), ('other', 'old-2', now() - interval '30 days'),
         ('email-status', 'recent-1', now() - interval '13 days'), ('other', 'fresh-1', now())`,
    );
  }

  const remaining = async (): Promise<{ emails: string[]; eventsOf: string[]; inbox: string[] }> => ({
    emails: (await dataSource.query(`SELECT idempotency_key AS k FROM email_loop.emails ORDER BY 1`)).map((r: { k: string }) => r.k),
    eventsOf: (
      await dataSource.query(`SELECT DISTINCT e.idempotency_key AS k FROM email_loop.email_events v JOIN email_loop.emails e ON e.id = v.email_id ORDER BY 1`)
    ).map((r: { k: string }) => r.k),
    inbox: (await dataSource.query(`SELECT message_id AS m FROM email_loop.inbox ORDER BY 1`)).map((r: { m: string }) => r.m),
  });

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('email_retention_int', EMAIL_MIGRATIONS));
  });

  afterAll(async () => {
    await dropMigratedDatabase(dataSource, url);
  });

  it('deletes exactly the final emails past their age, with their events, and the inbox rows past theirs', async () => {
    await seed();
    const before = await remaining();
    // A small batch, so the pass has to go batch after batch.
    const deleted = await service({ emailsMs: 90 * DAY, inboxMs: 14 * DAY, batchSize: 2 }).prune();

    const gone = [...TERMINAL_STATUSES].map((s) => `${s}-old`);
    expect(deleted).toEqual({ inbox: 2, emails: gone.length });
    const after = await remaining();
    expect(after.emails).toEqual(before.emails.filter((k) => !gone.includes(k)));
    expect(after.eventsOf).toEqual(after.emails); // every kept email keeps its history
    expect(await dataSource.query(`SELECT count(*)::int AS n FROM email_loop.email_events`)).toEqual([{ n: after.emails.length * 2 }]);
    expect(after.inbox).toEqual(['fresh-1', 'recent-1']);
    // Old emails that are not final (queued … unknown) are all still there.
    expect(after.emails.filter((k) => k.endsWith('-old')).sort()).toEqual(
      EMAIL_STATUSES.filter((s) => !TERMINAL_STATUSES.has(s)).map((s) => `${s}-old`).sort(),
    );
  });

  it('keeps every table whose age is 0', async () => {
    await seed();
    const before = await remaining();
    expect(await service({ emailsMs: 0, inboxMs: 0 }).prune()).toEqual({});
    expect(await remaining()).toEqual(before);
  });

  it('finds the final emails that are due through their partial index, and their events by email id', async () => {
    const plan = (await explainWithoutSeqScan(url, emailQueries.deleteFinal(90 * DAY, 1_000))).join('\n');
    expect(plan).not.toMatch(/Seq Scan/);
    expect(plan).toMatch(/emails_final_updated_idx/);
    expect(plan).toMatch(/email_events_email_idx/);
  });

  it('keeps the emails index predicate equal to TERMINAL_STATUSES', async () => {
    const [index] = await dataSource.query(`SELECT indexdef FROM pg_indexes WHERE indexname = 'emails_final_updated_idx'`);
    const statuses = [...String(index?.indexdef).matchAll(/'([a-z_]+)'/g)].map((m) => m[1]);
    expect(statuses.sort()).toEqual([...TERMINAL_STATUSES].sort());
  });
});
