import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { createMigratedDatabase, dropMigratedDatabase, explainWithoutSeqScan } from '@app/testing';
import { MAILER_MIGRATIONS } from '../database/migrations.js';
import { MailRequestsRepository, OPEN_STATUSES, mailRequestQueries } from './mail-requests.repository.js';

/**
 * The sweeper's page query on real PostgreSQL, on a table shaped like production's during a
 * backlog: mostly final requests, and more open ones than fit in one page.
 */
describe('MailRequestsRepository.listOpen (PostgreSQL)', () => {
  const repository = new MailRequestsRepository();
  let url: string;
  let dataSource: DataSource;

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('mail_requests_int', MAILER_MIGRATIONS));
    // 5,000 sent requests, 1,000 in each open status and 20 in each other final or held one.
    await dataSource.query(
      `INSERT INTO mail_requests (email_id, lane, payload, status)
       SELECT gen_random_uuid(), 'transactional', '{}', 'sent' FROM generate_series(1, 5000)`,
    );
    await dataSource.query(
      `INSERT INTO mail_requests (email_id, lane, payload, status)
       SELECT gen_random_uuid(), 'bulk', '{}', s FROM unnest($1::text[]) s, generate_series(1, 1000)`,
      [OPEN_STATUSES],
    );
    await dataSource.query(
      `INSERT INTO mail_requests (email_id, lane, payload, status)
       SELECT gen_random_uuid(), 'bulk', '{}', s FROM unnest($1::text[]) s, generate_series(1, 20)`,
      [['failed', 'expired', 'unknown']],
    );
    await dataSource.query('ANALYZE mail_requests');
  });

  afterAll(async () => {
    await dropMigratedDatabase(dataSource, url);
  });

  it('pages through exactly the open requests in email id order', async () => {
    const expected: { email_id: string }[] = await dataSource.query(
      `SELECT email_id FROM mail_requests WHERE status = ANY($1) ORDER BY email_id`,
      [OPEN_STATUSES],
    );
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page = await repository.listOpen(dataSource.manager, 500, after);
      seen.push(...page.map((r) => r.emailId));
      if (page.length < 500) break;
      after = page[page.length - 1]!.emailId;
    }
    expect(seen).toEqual(expected.map((r) => r.email_id));
    expect(seen).toHaveLength(3_000);
  });

  it.each([
    ['the first page', null],
    ['a later page', '80000000-0000-4000-8000-000000000000'],
  ])('reads %s from the open-requests index in order: no scan of final requests, no sort', async (_, after) => {
    const plan = (await explainWithoutSeqScan(url, mailRequestQueries.listOpen(500, after))).join('\n');
    expect(plan).not.toMatch(/Seq Scan on mail_requests/);
    expect(plan).not.toMatch(/\bSort\b/);
    expect(plan).not.toMatch(/Filter: .*status/); // final requests read and thrown away, e.g. along the primary key
    expect(plan).toMatch(/Index Scan using mail_requests_open_email_idx on mail_requests/);
  });

  it('keeps the index predicate equal to OPEN_STATUSES', async () => {
    const [index] = await dataSource.query(`SELECT indexdef FROM pg_indexes WHERE indexname = 'mail_requests_open_email_idx'`);
    const statuses = [...String(index?.indexdef).matchAll(/'([a-z_]+)'/g)].map((m) => m[1]);
    expect(statuses.sort()).toEqual([...OPEN_STATUSES].sort());
  });
});
