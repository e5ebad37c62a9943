import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { CONTRACT_VERSION, type EmailRequestedMessage } from '@app/contracts';
import { sleep } from '@app/common';
import { createMigratedDatabase, dropMigratedDatabase } from '@app/testing';
import { MAILER_MIGRATIONS } from '../database/migrations.js';
import { MailRequestsRepository } from './mail-requests.repository.js';

/**
 * Attempts on real PostgreSQL: the lease says whether an attempt in `sending` may still be talking
 * SMTP, and an attempt's result is recorded only while it is the current attempt.
 */
describe('MailRequestsRepository attempts (PostgreSQL)', () => {
  const repository = new MailRequestsRepository();
  let url: string;
  let dataSource: DataSource;

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('mail_attempts_int', MAILER_MIGRATIONS));
  });

  afterAll(async () => {
    await dropMigratedDatabase(dataSource, url);
  });

  async function newRequest(): Promise<string> {
    const request: EmailRequestedMessage = {
      version: CONTRACT_VERSION,
      type: 'email.requested',
      emailId: randomUUID(),
      requestedAt: new Date().toISOString(),
      lane: 'transactional',
      to: ['ada@example.com'],
      subject: 'hello',
      text: 'x',
    };
    await repository.insert(dataSource.manager, request, 'pending');
    return request.emailId;
  }

  const find = (emailId: string) => repository.find(dataSource.manager, emailId);

  it('keeps an attempt alive while its lease is renewed, and lets it lapse when it is not', async () => {
    const emailId = await newRequest();
    await repository.startAttempt(dataSource.manager, emailId, 1, 1_500);
    expect(await find(emailId)).toMatchObject({ status: 'sending', attempts: 1, leaseActive: true });
    await sleep(1_000);
    expect(await repository.renewLease(dataSource.manager, emailId, 1, 1_500)).toBe(true);
    await sleep(1_000);
    expect((await find(emailId))?.leaseActive).toBe(true); // past the first lease: the renewal kept it
    await sleep(1_800);
    expect((await find(emailId))?.leaseActive).toBe(false);
  });

  it('refuses the late result of an attempt a later attempt superseded: sent never goes back to retrying', async () => {
    const emailId = await newRequest();
    await repository.startAttempt(dataSource.manager, emailId, 1, 10);
    await sleep(50); // attempt 1's worker went quiet; its lease ran out
    await repository.startAttempt(dataSource.manager, emailId, 2, 15_000);
    expect(await repository.renewLease(dataSource.manager, emailId, 1, 15_000)).toBe(false);
    expect(await repository.finishAttempt(dataSource.manager, emailId, 2, { status: 'sent', outcome: 'sent', messageId: '<m@x>' })).toBe(true);

    // Attempt 1 comes back late with a temporary failure.
    expect(await repository.finishAttempt(dataSource.manager, emailId, 1, { status: 'retrying', outcome: 'deferred', error: 'late' })).toBe(false);
    expect(await find(emailId)).toMatchObject({ status: 'sent', attempts: 2, leaseActive: false });
    const attempts: { attempt: number; outcome: string | null }[] = await dataSource.query(
      `SELECT attempt, outcome FROM mail_attempts WHERE email_id = $1 ORDER BY attempt`,
      [emailId],
    );
    expect(attempts).toEqual([
      { attempt: 1, outcome: null },
      { attempt: 2, outcome: 'sent' },
    ]);
  });

  it('records a reconciliation only for an email still held as unknown', async () => {
    const emailId = await newRequest();
    await repository.startAttempt(dataSource.manager, emailId, 1, 15_000);
    expect(await repository.finishAttempt(dataSource.manager, emailId, 1, { status: 'unknown', outcome: 'unknown' })).toBe(true);
    const decision = { status: 'sent', outcome: 'reconciled' } as const;
    expect(await repository.finishAttempt(dataSource.manager, emailId, 1, decision)).toBe(false); // not `sending`
    expect(await repository.finishAttempt(dataSource.manager, emailId, 1, decision, 'unknown')).toBe(true);
    expect((await find(emailId))?.status).toBe('sent');
  });
});
