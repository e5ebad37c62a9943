import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { InboxStore } from '@app/inbox';
import { createMigratedDatabase, dropMigratedDatabase, explainWithoutSeqScan } from '@app/testing';
import { SendLimitsRepository } from '../checks/send-limits.repository.js';
import { loadMailerConfig } from '../config.js';
import { MAILER_MIGRATIONS } from '../database/migrations.js';
import { FINAL_STATUSES, MailRequestsRepository, mailRequestQueries, type MailRequestStatus } from '../requests/mail-requests.repository.js';
import { MailerRetentionService } from './mailer-retention.service.js';

const DAY = 86_400_000;
const STATUSES: MailRequestStatus[] = ['pending', 'sending', 'retrying', 'sent', 'failed', 'expired', 'unknown'];

/**
 * Retention of the mailer on real PostgreSQL: one pass deletes exactly the final requests past
 * their age, with their attempts, and the old inbox rows, and leaves everything else.
 */
describe('MailerRetentionService (PostgreSQL)', () => {
  let url: string;
  let dataSource: DataSource;

  const service = (env: Record<string, string>): MailerRetentionService =>
    new MailerRetentionService(
      dataSource,
      new MailRequestsRepository(),
      new InboxStore(),
      new SendLimitsRepository(),
      loadMailerConfig({
        MAILER_DATABASE_URL: url,
        KAFKA_BROKERS: '127.0.0.1:9092',
        REDIS_URL: 'redis://127.0.0.1:6379',
        SMTP_URL: 'smtp://127.0.0.1:2525',
        ...env,
      }),
    );

  /** 1,001 requests per (status, age), named `<status>-<age>-<n>`, each with two attempts. */
  async function seed(): Promise<void> {
    await dataSource.query(`TRUNCATE mail_requests, mail_attempts, inbox, mail_dedup_keys, mail_frequency_counts`);
    const ages = { old: '31 days', recent: '29 days', fresh: '1 minute' };
    for (const status of STATUSES) {
      for (const [age, interval] of Object.entries(ages)) {
        // Created long before: the age counts from the last change, not from creation.
        await dataSource.query(
          `WITH r AS (
             INSERT INTO mail_requests (email_id, lane, payload, status, created_at, updated_at)
             SELECT gen_random_uuid(), 'transactional', jsonb_build_object('key', $1 || '-' || i), $2,
                    now() - interval '200 days', now() - $3::interval
             FROM generate_series(1, 1001) i
             RETURNING email_id)
           INSERT INTO mail_attempts (email_id, attempt) SELECT r.email_id, a FROM r, generate_series(1, 2) a`,
          [`${status}-${age}`, status, interval],
        );
      }
    }
    await dataSource.query(
      `INSERT INTO inbox (consumer, message_id, processed_at) VALUES
         ('c', 'old', now() - interval '15 days'), ('c', 'recent', now() - interval '13 days')`,
    );
    await dataSource.query(
      `INSERT INTO mail_dedup_keys (key, email_id, expires_at) VALUES
         ('ended', gen_random_uuid(), now() - interval '1 second'), ('open', gen_random_uuid(), now() + interval '1 hour')`,
    );
    await dataSource.query(
      `INSERT INTO mail_frequency_counts (recipient, category, day, count) VALUES
         ('a', 'news', (now() AT TIME ZONE 'UTC')::date - 2, 1), ('a', 'news', (now() AT TIME ZONE 'UTC')::date - 1, 1),
         ('a', 'news', (now() AT TIME ZONE 'UTC')::date, 1)`,
    );
  }

  /** Requests left per `<status>-<age>`, and how many attempts they still have. */
  async function remaining(): Promise<{
    requests: Record<string, number>;
    attempts: number;
    orphanAttempts: number;
    inbox: string[];
    dedupKeys: string[];
    counterDays: number;
  }> {
    const rows: { k: string; n: number }[] = await dataSource.query(
      `SELECT regexp_replace(payload->>'key', '-[0-9]+$', '') AS k, count(*)::int AS n FROM mail_requests GROUP BY 1`,
    );
    const [{ attempts, orphans }] = await dataSource.query(
      `SELECT count(*)::int AS attempts, count(*) FILTER (WHERE r.email_id IS NULL)::int AS orphans
       FROM mail_attempts a LEFT JOIN mail_requests r USING (email_id)`,
    );
    const inbox: { m: string }[] = await dataSource.query(`SELECT message_id AS m FROM inbox ORDER BY 1`);
    const dedupKeys: { key: string }[] = await dataSource.query(`SELECT key FROM mail_dedup_keys ORDER BY 1`);
    const [{ days }] = await dataSource.query(`SELECT count(*)::int AS days FROM mail_frequency_counts`);
    return {
      requests: Object.fromEntries(rows.map((r) => [r.k, r.n])),
      attempts,
      orphanAttempts: orphans,
      inbox: inbox.map((r) => r.m),
      dedupKeys: dedupKeys.map((r) => r.key),
      counterDays: days,
    };
  }

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('mailer_retention_int', MAILER_MIGRATIONS));
  });

  afterAll(async () => {
    await dropMigratedDatabase(dataSource, url);
  });

  it('deletes exactly the final requests past their age, with their attempts, in batches, the old inbox rows, ended dedup keys and old counters', async () => {
    await seed();
    const deleted = await service({ MAIL_REQUEST_RETENTION_DAYS: '30', INBOX_RETENTION_DAYS: '14' }).prune();

    // more than one batch of 1,000
    expect(deleted).toEqual({ mail_requests: 3 * 1001, inbox: 1, mail_dedup_keys: 1, mail_frequency_counts: 1 });
    const after = await remaining();
    const expected: Record<string, number> = {};
    for (const status of STATUSES) {
      for (const age of ['old', 'recent', 'fresh']) {
        if (!(age === 'old' && FINAL_STATUSES.includes(status))) expected[`${status}-${age}`] = 1001;
      }
    }
    expect(after.requests).toEqual(expected); // old pending, sending, retrying and unknown ones stay
    expect(after.orphanAttempts).toBe(0);
    expect(after.attempts).toBe(Object.keys(expected).length * 1001 * 2);
    expect(after.inbox).toEqual(['recent']);
    expect(after.dedupKeys).toEqual(['open']);
    expect(after.counterDays).toBe(2); // today's and yesterday's
  });

  it('keeps every table whose age is 0 (dedup keys and counters carry their own end, and always go)', async () => {
    await seed();
    const before = await remaining();
    expect(await service({ MAIL_REQUEST_RETENTION_DAYS: '0', INBOX_RETENTION_DAYS: '0' }).prune()).toEqual({ mail_dedup_keys: 1, mail_frequency_counts: 1 });
    expect(await remaining()).toEqual({ ...before, dedupKeys: ['open'], counterDays: 2 });
  });

  it('finds the final requests that are due through their partial index, and their attempts by email id', async () => {
    const plan = (await explainWithoutSeqScan(url, mailRequestQueries.deleteFinal(30 * DAY, 1_000))).join('\n');
    expect(plan).not.toMatch(/Seq Scan/);
    expect(plan).toMatch(/mail_requests_final_updated_idx/);
    expect(plan).toMatch(/mail_attempts_pkey/);
  });

  it('keeps the retention index predicate equal to FINAL_STATUSES', async () => {
    const [index] = await dataSource.query(`SELECT indexdef FROM pg_indexes WHERE indexname = 'mail_requests_final_updated_idx'`);
    const statuses = [...String(index?.indexdef).matchAll(/'([a-z_]+)'/g)].map((m) => m[1]);
    expect(statuses.sort()).toEqual([...FINAL_STATUSES].sort());
  });
});
