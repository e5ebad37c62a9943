import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { CONTRACT_VERSION, type EmailRequestedMessage } from '@app/contracts';
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
    expect(seen).toHaveLength(1_000 * OPEN_STATUSES.length);
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

  it('pages the unknown requests longest held first: each once, in order, while more become unknown', async () => {
    const expected: { emailId: string }[] = await dataSource.query(
      `SELECT email_id AS "emailId" FROM mail_requests WHERE status = 'unknown' ORDER BY updated_at, email_id`,
    );
    expect(expected).toHaveLength(20); // inserted by one statement: one updated_at, the id breaks the tie
    const seen: string[] = [];
    let after: [string, string] | undefined;
    for (let n = 0; n < 50; n++) {
      const rows = await repository.listUnknown(dataSource.manager, { limit: 3, ...(after && { after }) });
      seen.push(...rows.slice(0, 3).map((r) => r.emailId));
      if (rows.length <= 3) break;
      const last = rows[2]!;
      after = [last.updatedAtMicros, last.emailId];
      // Held meanwhile: later than everything listed, so it comes at the end, once.
      await dataSource.query(
        `UPDATE mail_requests SET status = 'unknown', updated_at = clock_timestamp() WHERE email_id = (SELECT email_id FROM mail_requests WHERE status = 'failed' LIMIT 1)`,
      );
    }
    expect(seen.slice(0, 20)).toEqual(expected.map((r) => r.emailId));
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.length).toBeGreaterThan(20);
  });

  it('keeps the index predicate equal to OPEN_STATUSES', async () => {
    const [index] = await dataSource.query(`SELECT indexdef FROM pg_indexes WHERE indexname = 'mail_requests_open_email_idx'`);
    const statuses = [...String(index?.indexdef).matchAll(/'([a-z_]+)'/g)].map((m) => m[1]);
    expect(statuses.sort()).toEqual([...OPEN_STATUSES].sort());
  });
});

/** Recording a batch of requests on real PostgreSQL: one statement, first copy wins, ids handed back as given. */
describe('MailRequestsRepository.insertMany and findMany (PostgreSQL)', () => {
  const repository = new MailRequestsRepository();
  let url: string;
  let dataSource: DataSource;

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('mail_requests_batch_int', MAILER_MIGRATIONS));
  });

  afterAll(async () => {
    await dropMigratedDatabase(dataSource, url);
  });

  const request = (subject = 'hello', emailId: string = randomUUID()): EmailRequestedMessage => ({
    version: CONTRACT_VERSION,
    type: 'email.requested',
    emailId,
    requestedAt: new Date().toISOString(),
    lane: 'bulk',
    to: ['ada@example.com'],
    subject,
    text: 'x',
  });

  it('inserts each unknown email once, the first copy of a repeated one, and returns the new ids as given', async () => {
    const known = request();
    await repository.insert(dataSource.manager, known, 'sent');
    const repeated = request('first copy');
    const upper = request('upper', randomUUID().toUpperCase());
    const expiring = { ...request(), expiresAt: '2030-01-01T00:00:00.000Z' };

    const inserted = await repository.insertMany(dataSource.manager, [
      { request: repeated, status: 'pending' },
      { request: known, status: 'pending' },
      { request: { ...repeated, subject: 'second copy' }, status: 'pending' },
      { request: upper, status: 'pending' },
      { request: { ...upper, emailId: upper.emailId.toLowerCase(), subject: 'lower copy' }, status: 'pending' },
      { request: expiring, status: 'expired' },
    ]);

    expect([...inserted].sort()).toEqual([repeated.emailId, upper.emailId, expiring.emailId].sort());
    const rows: { email_id: string; subject: string; status: string; expires_at: Date | null }[] = await dataSource.query(
      `SELECT email_id, payload->>'subject' AS subject, status, expires_at FROM mail_requests WHERE email_id = ANY($1::uuid[])`,
      [[repeated.emailId, upper.emailId, expiring.emailId, known.emailId]],
    );
    expect(Object.fromEntries(rows.map((r) => [r.email_id, [r.subject, r.status, r.expires_at?.toISOString() ?? null]]))).toEqual({
      [repeated.emailId]: ['first copy', 'pending', null],
      [upper.emailId.toLowerCase()]: ['upper', 'pending', null],
      [expiring.emailId]: ['hello', 'expired', '2030-01-01T00:00:00.000Z'],
      [known.emailId]: ['hello', 'sent', null],
    });
    expect(await repository.insertMany(dataSource.manager, [])).toEqual(new Set());
  });

  it('finds the statuses of the requests that exist, keyed by the ids as given', async () => {
    const open = request();
    const sent = request('sent', randomUUID().toUpperCase());
    await repository.insert(dataSource.manager, open, 'retrying');
    await repository.insert(dataSource.manager, sent, 'sent');
    const missing = randomUUID();

    expect(await repository.findMany(dataSource.manager, [open.emailId, sent.emailId, missing])).toEqual(
      new Map([
        [open.emailId, 'retrying'],
        [sent.emailId, 'sent'],
      ]),
    );
    expect(await repository.findMany(dataSource.manager, [])).toEqual(new Map());
  });
});
