import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { CONTRACT_VERSION, type EmailRequestedMessage, type Lane } from '@app/contracts';
import { OutboxWriter } from '@app/outbox';
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

  async function newRequest(overrides: { lane?: Lane; expiresAt?: string } = {}): Promise<string> {
    const request: EmailRequestedMessage = {
      version: CONTRACT_VERSION,
      type: 'email.requested',
      emailId: randomUUID(),
      requestedAt: new Date().toISOString(),
      lane: overrides.lane ?? 'transactional',
      to: ['ada@example.com'],
      subject: 'hello',
      text: 'x',
      ...(overrides.expiresAt && { expiresAt: overrides.expiresAt }),
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

  describe('startNextAttempt: steps 1 and 2 of a send in one statement', () => {
    const start = (emailId: string, holdLanes: Lane[] = []) =>
      repository.startNextAttempt(dataSource.manager, emailId, { leaseMs: 15_000, now: new Date(), holdLanes });
    const attemptRows = (emailId: string): Promise<{ attempt: number; finished: boolean }[]> =>
      dataSource.query(`SELECT attempt, finished_at IS NOT NULL AS finished FROM mail_attempts WHERE email_id = $1 ORDER BY attempt`, [emailId]);

    it('starts an open request: sending, attempt 1 with its row, a lease, and the request to send', async () => {
      const emailId = await newRequest();
      const started = await start(emailId);
      expect(started).toMatchObject({ attempt: 1, request: { emailId, lane: 'transactional', status: 'sending', attempts: 1, leaseActive: true } });
      expect(started?.request.payload).toMatchObject({ emailId, to: ['ada@example.com'], subject: 'hello' });
      expect(await find(emailId)).toMatchObject({ status: 'sending', attempts: 1, leaseActive: true });
      expect(await attemptRows(emailId)).toEqual([{ attempt: 1, finished: false }]);
    });

    it('starts the next attempt of a request to retry, or of an unconfirmed send on a resend lane', async () => {
      const retrying = await newRequest();
      await repository.startAttempt(dataSource.manager, retrying, 1, 15_000);
      await repository.finishAttempt(dataSource.manager, retrying, 1, { status: 'retrying', outcome: 'deferred' });
      expect(await start(retrying)).toMatchObject({ attempt: 2 });

      const unconfirmed = await newRequest({ lane: 'bulk' });
      await repository.startAttempt(dataSource.manager, unconfirmed, 1, 10);
      await sleep(50); // attempt 1's lease ran out
      expect(await start(unconfirmed, ['transactional'])).toMatchObject({ attempt: 2 });
      expect(await attemptRows(unconfirmed)).toEqual([
        { attempt: 1, finished: false },
        { attempt: 2, finished: false },
      ]);
    });

    it('lets exactly one of two concurrent starts of the same request through (the other re-checks the committed row)', async () => {
      for (let i = 0; i < 5; i++) {
        const emailId = await newRequest();
        const results = await Promise.all([start(emailId), start(emailId), start(emailId)]);
        expect(results.filter((r) => r !== null)).toEqual([expect.objectContaining({ attempt: 1 })]);
        expect(await attemptRows(emailId)).toEqual([{ attempt: 1, finished: false }]);
      }
    });

    it.each([
      ['missing', async () => randomUUID()],
      [
        'final',
        async () => {
          const emailId = await newRequest();
          await repository.startAttempt(dataSource.manager, emailId, 1, 15_000);
          await repository.finishAttempt(dataSource.manager, emailId, 1, { status: 'sent', outcome: 'sent' });
          return emailId;
        },
      ],
      [
        'sending within its lease',
        async () => {
          const emailId = await newRequest();
          await repository.startAttempt(dataSource.manager, emailId, 1, 15_000);
          return emailId;
        },
      ],
      ['expired', async () => newRequest({ expiresAt: new Date(Date.now() - 1_000).toISOString() })],
      [
        'an unconfirmed send on a hold lane',
        async () => {
          const emailId = await newRequest({ lane: 'bulk' });
          await repository.startAttempt(dataSource.manager, emailId, 1, 10);
          await sleep(50);
          return emailId;
        },
      ],
    ])('starts nothing and changes nothing for a request %s (the caller decides under a lock)', async (_, given) => {
      const emailId = await given();
      const before = await find(emailId);
      const attemptsBefore = await attemptRows(emailId);
      expect(await start(emailId, ['bulk'])).toBeNull();
      expect(await find(emailId)).toEqual(before);
      expect(await attemptRows(emailId)).toEqual(attemptsBefore);
    });
  });

  describe('finishAttempt with a status event: one fenced statement', () => {
    const outbox = new OutboxWriter({ schema: 'public' });
    const sentEvent = (emailId: string, attempt: number) =>
      outbox.insert([{ topic: 'mail.events', key: emailId, payload: { type: 'email.sent', emailId, detail: { attempt } } }]);
    const outboxRows = (emailId: string): Promise<{ topic: string; payload: unknown }[]> =>
      dataSource.query(`SELECT topic, payload FROM outbox WHERE message_key = $1 ORDER BY id`, [emailId]);
    const attemptRows = (emailId: string): Promise<{ attempt: number; outcome: string | null; smtp_code: number | null }[]> =>
      dataSource.query(`SELECT attempt, outcome, smtp_code FROM mail_attempts WHERE email_id = $1 ORDER BY attempt`, [emailId]);

    it('records the status, the attempt outcome and exactly one outbox row for the current attempt', async () => {
      const emailId = await newRequest();
      await repository.startAttempt(dataSource.manager, emailId, 1, 15_000);
      const result = { status: 'sent', outcome: 'sent', messageId: '<m@x>', smtpCode: 250, smtpResponse: '250 ok' } as const;
      expect(await repository.finishAttempt(dataSource.manager, emailId, 1, result, 'sending', sentEvent(emailId, 1))).toBe(true);
      expect(await find(emailId)).toMatchObject({ status: 'sent', attempts: 1, leaseActive: false });
      expect(await attemptRows(emailId)).toEqual([{ attempt: 1, outcome: 'sent', smtp_code: 250 }]);
      expect(await outboxRows(emailId)).toEqual([{ topic: 'mail.events', payload: { type: 'email.sent', emailId, detail: { attempt: 1 } } }]);
    });

    it('records nothing, and no outbox row, for an attempt a later one superseded', async () => {
      const emailId = await newRequest();
      await repository.startAttempt(dataSource.manager, emailId, 1, 10);
      await sleep(50);
      await repository.startAttempt(dataSource.manager, emailId, 2, 15_000);
      const late = { status: 'failed', outcome: 'rejected', smtpCode: 550, error: 'late' } as const;
      expect(await repository.finishAttempt(dataSource.manager, emailId, 1, late, 'sending', sentEvent(emailId, 1))).toBe(false);
      expect(await find(emailId)).toMatchObject({ status: 'sending', attempts: 2, leaseActive: true });
      expect(await attemptRows(emailId)).toEqual([
        { attempt: 1, outcome: null, smtp_code: null },
        { attempt: 2, outcome: null, smtp_code: null },
      ]);
      expect(await outboxRows(emailId)).toEqual([]);
    });
  });
});
