import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { Clock, IdGenerator, sleep } from '@app/common';
import { CONTRACT_VERSION, type EmailRequestedMessage, type Lane } from '@app/contracts';
import { KafkaTopics } from '@app/kafka';
import { OutboxWriter } from '@app/outbox';
import { SmtpCapture, createMigratedDatabase, dropMigratedDatabase, statementLoggingDataSource, waitFor } from '@app/testing';
import { loadMailerConfig } from '../config.js';
import { MAILER_MIGRATIONS } from '../database/migrations.js';
import { MailEvents } from '../events/mail-events.js';
import { MailRequestsRepository } from '../requests/mail-requests.repository.js';
import { AttemptInProgressError, NotDueYetError } from './attempt.errors.js';
import { SuppressionsRepository } from '../suppressions/suppressions.repository.js';
import { MailSender } from './mail-sender.service.js';
import { SmtpTransport } from './smtp.transport.js';

/**
 * MailSender on real PostgreSQL and a real SMTP server: what each branch of an attempt commits,
 * and how many statements the common case costs.
 */
describe('MailSender (PostgreSQL, SMTP)', () => {
  const repository = new MailRequestsRepository();
  const smtpServer = new SmtpCapture();
  /** Every statement the sender's DataSource ran, in order. */
  let statements: string[] = [];
  let url: string;
  let dataSource: DataSource;
  let senderDataSource: DataSource;
  let smtp: SmtpTransport;
  let sender: MailSender;
  let smtpPort: number;
  /** A sender with its own config (retry settings), on the same database and SMTP server. */
  let senderWith: (env: Record<string, string>) => MailSender;

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('mail_sender_int', MAILER_MIGRATIONS));
    ({ dataSource: senderDataSource, statements } = await statementLoggingDataSource(url));
    smtpPort = await smtpServer.start();
    const configWith = (env: Record<string, string>) =>
      loadMailerConfig({
        MAILER_DATABASE_URL: url,
        KAFKA_BROKERS: '127.0.0.1:9092',
        REDIS_URL: 'redis://127.0.0.1:6379',
        SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
        SMTP_TLS: 'none',
        UNCONFIRMED_SEND_BULK: 'hold',
        ...env,
      });
    const clock = new Clock();
    const events = new MailEvents(new OutboxWriter({ schema: 'public' }), new KafkaTopics({ brokers: [], clientId: 'mail-sender-int', topicPrefix: '' }), new IdGenerator(), clock);
    smtp = new SmtpTransport(configWith({}));
    sender = new MailSender(senderDataSource, repository, events, smtp, clock, configWith({}), new SuppressionsRepository());
    senderWith = (env) => new MailSender(senderDataSource, repository, events, smtp, clock, configWith(env), new SuppressionsRepository());
  });

  afterAll(async () => {
    await smtp?.onApplicationShutdown();
    await smtpServer.stop();
    await senderDataSource?.destroy();
    await dropMigratedDatabase(dataSource, url);
  });

  beforeEach(() => {
    statements.length = 0;
  });

  async function newRequest(overrides: { lane?: Lane; expiresAt?: string; to?: string[]; category?: string } = {}): Promise<string> {
    const request: EmailRequestedMessage = {
      version: CONTRACT_VERSION,
      type: 'email.requested',
      emailId: randomUUID(),
      requestedAt: new Date().toISOString(),
      lane: overrides.lane ?? 'transactional',
      to: overrides.to ?? [`${randomUUID()}@example.com`],
      subject: 'hello',
      text: 'x',
      ...(overrides.expiresAt && { expiresAt: overrides.expiresAt }),
      ...(overrides.category && { category: overrides.category }),
    };
    await repository.insert(dataSource.manager, request, 'pending');
    return request.emailId;
  }

  const find = (emailId: string) => repository.find(dataSource.manager, emailId);
  const attempts = (emailId: string): Promise<{ attempt: number; finished: boolean; outcome: string | null }[]> =>
    dataSource.query(`SELECT attempt, finished_at IS NOT NULL AS finished, outcome FROM mail_attempts WHERE email_id = $1 ORDER BY attempt`, [emailId]);
  const events = (emailId: string): Promise<{ type: string; detail: Record<string, unknown> }[]> =>
    dataSource.query(`SELECT payload->>'type' AS type, payload->'detail' AS detail FROM outbox WHERE message_key = $1 ORDER BY id`, [emailId]);
  const mailsTo = (emailId: string) => smtpServer.mails.filter((m) => m.emailId === emailId);
  /** Waits for the time a deferral announced (the next attempt may not start before it). */
  const waitUntil = async (outcome: unknown): Promise<void> => {
    expect(outcome).toEqual({ retryAt: expect.any(Date) });
    await sleep(Math.max(0, (outcome as { retryAt: Date }).retryAt.getTime() - Date.now()) + 5);
  };
  const transactionStatements = () => statements.filter((s) => /^(START TRANSACTION|BEGIN|COMMIT|ROLLBACK)\b/i.test(s));

  it('commits sending, the attempt and its lease before the SMTP hand-off, then the outcome and its event, in two statements', async () => {
    const emailId = await newRequest();
    const release = smtpServer.hold((m) => m.emailId === emailId);
    try {
      const sending = sender.send(emailId);
      await waitFor(() => mailsTo(emailId).length === 1, { timeoutMs: 10_000, description: 'the message inside DATA' });
      // The server has the message and has not answered: the attempt is already committed.
      expect(await find(emailId)).toMatchObject({ status: 'sending', attempts: 1, leaseActive: true });
      expect(await attempts(emailId)).toEqual([{ attempt: 1, finished: false, outcome: null }]);
      expect(await events(emailId)).toEqual([]);
      release();
      expect(await sending).toBe('processed');
    } finally {
      release();
    }
    expect(await find(emailId)).toMatchObject({ status: 'sent', attempts: 1, leaseActive: false });
    expect(await attempts(emailId)).toEqual([{ attempt: 1, finished: true, outcome: 'sent' }]);
    expect(await events(emailId)).toEqual([{ type: 'email.sent', detail: expect.objectContaining({ attempt: 1, messageId: mailsTo(emailId)[0]?.messageId }) }]);
    expect(statements).toHaveLength(2);
    expect(transactionStatements()).toEqual([]);
  });

  it('skips a final request: nothing sent, nothing written', async () => {
    const emailId = await newRequest();
    expect(await sender.send(emailId)).toBe('processed');
    expect(await sender.send(emailId)).toBe('skipped');
    expect(mailsTo(emailId)).toHaveLength(1);
    expect(await find(emailId)).toMatchObject({ status: 'sent', attempts: 1 });
    expect(await events(emailId)).toHaveLength(1);
  });

  it('refuses to start while another attempt is within its lease', async () => {
    const emailId = await newRequest();
    await repository.startAttempt(dataSource.manager, emailId, 1, 15_000);
    await expect(sender.send(emailId)).rejects.toBeInstanceOf(AttemptInProgressError);
    expect(await find(emailId)).toMatchObject({ status: 'sending', attempts: 1, leaseActive: true });
    expect(await attempts(emailId)).toEqual([{ attempt: 1, finished: false, outcome: null }]);
    expect(mailsTo(emailId)).toEqual([]);
  });

  it('expires a request whose time ran out, with its event, and sends nothing', async () => {
    const emailId = await newRequest({ expiresAt: new Date(Date.now() - 1_000).toISOString() });
    expect(await sender.send(emailId)).toBe('skipped');
    expect(await find(emailId)).toMatchObject({ status: 'expired', attempts: 0 });
    expect(await attempts(emailId)).toEqual([]);
    expect((await events(emailId)).map((e) => e.type)).toEqual(['email.expired']);
    expect(mailsTo(emailId)).toEqual([]);
  });

  it('holds an unconfirmed send as unknown on a hold lane, with its event, and sends nothing', async () => {
    const emailId = await newRequest({ lane: 'bulk' });
    await repository.startAttempt(dataSource.manager, emailId, 1, 10);
    await sleep(50); // attempt 1's worker went quiet; its lease ran out
    expect(await sender.send(emailId)).toBe('skipped');
    expect(await find(emailId)).toMatchObject({ status: 'unknown', attempts: 1 });
    expect(await attempts(emailId)).toEqual([{ attempt: 1, finished: true, outcome: 'unknown' }]);
    expect(await events(emailId)).toEqual([{ type: 'email.unknown', detail: expect.objectContaining({ attempt: 1 }) }]);
    expect(mailsTo(emailId)).toEqual([]);
  });

  it('holds an unconfirmed send on a hold lane even when the email expired meanwhile: it may have been delivered', async () => {
    const emailId = await newRequest({ lane: 'bulk', expiresAt: new Date(Date.now() + 300).toISOString() });
    await repository.startAttempt(dataSource.manager, emailId, 1, 10);
    await sleep(400); // the lease ran out, and so did the email's time
    expect(await sender.send(emailId)).toBe('skipped');
    expect(await find(emailId)).toMatchObject({ status: 'unknown', attempts: 1 });
    expect((await events(emailId)).map((e) => e.type)).toEqual(['email.unknown']);
    expect(mailsTo(emailId)).toEqual([]);
  });

  it('resends an unconfirmed send on a resend lane as the next attempt, in two statements', async () => {
    const emailId = await newRequest();
    await repository.startAttempt(dataSource.manager, emailId, 1, 10);
    await sleep(50);
    statements.length = 0;
    expect(await sender.send(emailId)).toBe('processed');
    expect(await find(emailId)).toMatchObject({ status: 'sent', attempts: 2 });
    expect(await attempts(emailId)).toEqual([
      { attempt: 1, finished: false, outcome: null },
      { attempt: 2, finished: true, outcome: 'sent' },
    ]);
    expect(await events(emailId)).toEqual([{ type: 'email.sent', detail: expect.objectContaining({ attempt: 2, possibleDuplicate: true }) }]);
    expect(statements).toHaveLength(2);
  });

  it('records nothing, not even the event, for an attempt a later attempt took over during the hand-off', async () => {
    const emailId = await newRequest();
    const release = smtpServer.hold((m) => m.emailId === emailId);
    try {
      const sending = sender.send(emailId);
      await waitFor(() => mailsTo(emailId).length === 1, { timeoutMs: 10_000, description: 'the message inside DATA' });
      await repository.startAttempt(dataSource.manager, emailId, 2, 15_000); // e.g. after attempt 1's lease ran out
      release();
      expect(await sending).toBe('skipped');
    } finally {
      release();
    }
    expect(await find(emailId)).toMatchObject({ status: 'sending', attempts: 2 });
    expect(await attempts(emailId)).toEqual([
      { attempt: 1, finished: false, outcome: null },
      { attempt: 2, finished: false, outcome: null },
    ]);
    expect(await events(emailId)).toEqual([]);
  });
  it('puts a recipient refused with 5.1.x on the suppression list, in the transaction that records the failure; other refusals do not', async () => {
    const unknownUser = `Gone-${randomUUID()}@example.com`;
    const spam = `spam-${randomUUID()}@example.com`;
    smtpServer.refuseRecipients((address) => {
      if (address === unknownUser) return { code: 550, message: '5.1.1 user unknown' };
      if (address === spam) return { code: 550, message: '5.7.1 refused by policy' };
      return null;
    });
    try {
      const bounced = await newRequest({ to: [unknownUser] });
      const refused = await newRequest({ to: [spam] });
      expect(await sender.send(bounced)).toBe('processed');
      expect(await sender.send(refused)).toBe('processed');
      expect(await find(bounced)).toMatchObject({ status: 'failed' });
      expect(await find(refused)).toMatchObject({ status: 'failed' });
      expect((await events(bounced))[0]).toMatchObject({ type: 'email.failed', detail: { smtpCode: 550 } });
      const listed: { address: string; category: string | null; reason: string; sourceEmailId: string }[] = await dataSource.query(
        `SELECT address, category, reason, source_email_id AS "sourceEmailId" FROM suppressions WHERE address = ANY($1)`,
        [[unknownUser.toLowerCase(), spam]],
      );
      expect(listed).toEqual([{ address: unknownUser.toLowerCase(), category: null, reason: 'hard_bounce', sourceEmailId: bounced }]);
      expect(transactionStatements()).toEqual(['START TRANSACTION', 'COMMIT']);
    } finally {
      smtpServer.refuseRecipients(() => null);
    }
  });
  it('suppresses a 5.1.x recipient also when the server took the message for the others, in the transaction that records the send', async () => {
    const gone = `gone-${randomUUID()}@example.com`;
    const fine = `fine-${randomUUID()}@example.com`;
    smtpServer.refuseRecipients((address) => (address === gone ? { code: 550, message: '5.1.1 user unknown' } : null));
    try {
      const emailId = await newRequest({ to: [fine, gone] });
      expect(await sender.send(emailId)).toBe('processed');
      expect(await find(emailId)).toMatchObject({ status: 'sent' });
      expect((await events(emailId))[0]).toMatchObject({ type: 'email.sent', detail: { rejectedRecipients: [gone] } });
      expect(mailsTo(emailId)[0]?.recipients).toEqual([fine]);
      const listed = await dataSource.query(`SELECT address, reason FROM suppressions WHERE address = ANY($1)`, [[gone, fine]]);
      expect(listed).toEqual([{ address: gone, reason: 'hard_bounce' }]);
      expect(transactionStatements()).toEqual(['START TRANSACTION', 'COMMIT']);
    } finally {
      smtpServer.refuseRecipients(() => null);
    }
  });

  describe('temporary and permanent SMTP failures', () => {
    const refuse = (emailId: string, code: number, message: string) => {
      const recipient = `${emailId}@example.com`;
      smtpServer.refuseRecipients((address) => (address === recipient ? { code, message } : null));
      return recipient;
    };
    const newRequestTo = async (): Promise<string> => {
      const emailId = await newRequest();
      await dataSource.query(`UPDATE mail_requests SET payload = jsonb_set(payload, '{to}', jsonb_build_array($2::text)) WHERE email_id = $1`, [emailId, `${emailId}@example.com`]);
      return emailId;
    };

    it('records a 4xx as retrying with its number, code, SMTP reply and the time of the next attempt, and asks the queue for that time', async () => {
      const emailId = await newRequestTo();
      refuse(emailId, 451, 'Mailbox busy, try later');
      const before = Date.now();
      const outcome = await senderWith({ SEND_RETRY_BASE_MS: '4000' }).send(emailId);
      expect(outcome).toEqual({ retryAt: expect.any(Date) });
      const retryAt = (outcome as { retryAt: Date }).retryAt.getTime();
      // Attempt 1 waits half to all of the base delay (equal jitter).
      expect(retryAt).toBeGreaterThanOrEqual(before + 2_000);
      expect(retryAt).toBeLessThanOrEqual(Date.now() + 4_000);
      expect(await find(emailId)).toMatchObject({ status: 'retrying', attempts: 1 });
      // Kept for the sweeper, which rebuilds the job for that time if Redis loses it.
      const [kept] = await dataSource.query(`SELECT next_attempt_at AS "nextAttemptAt" FROM mail_requests WHERE email_id = $1`, [emailId]);
      expect(kept.nextAttemptAt.getTime()).toBe(retryAt);
      expect(await attempts(emailId)).toEqual([{ attempt: 1, finished: true, outcome: 'deferred' }]);
      expect(await events(emailId)).toEqual([
        {
          type: 'email.retrying',
          detail: {
            attempt: 1,
            code: 'smtp_deferred',
            smtpCode: 451,
            smtpResponse: expect.stringMatching(/^451 .*Mailbox busy, try later/),
            reason: expect.any(String),
            nextAttemptAt: new Date(retryAt).toISOString(),
          },
        },
      ]);
    });

    it('fails a 5xx at once, with its code and reply, and no retry', async () => {
      const emailId = await newRequestTo();
      refuse(emailId, 550, 'No such user here');
      expect(await sender.send(emailId)).toBe('processed');
      expect(await find(emailId)).toMatchObject({ status: 'failed', attempts: 1 });
      expect(await events(emailId)).toEqual([
        {
          type: 'email.failed',
          detail: expect.objectContaining({ attempt: 1, code: 'smtp_rejected', smtpCode: 550, smtpResponse: expect.stringMatching(/No such user here/) }),
        },
      ]);
    });

    it('fails on the last attempt that PostgreSQL counted, whatever the queue remembers', async () => {
      const emailId = await newRequestTo();
      refuse(emailId, 421, 'Service not available');
      const retrying = senderWith({ SEND_MAX_ATTEMPTS: '2', SEND_RETRY_BASE_MS: '10' });
      await waitUntil(await retrying.send(emailId));
      expect(await retrying.send(emailId)).toBe('processed');
      expect(await find(emailId)).toMatchObject({ status: 'failed', attempts: 2 });
      const recorded = await events(emailId);
      expect(recorded.map((e) => e.type)).toEqual(['email.retrying', 'email.failed']);
      expect(recorded[1]?.detail).toMatchObject({ attempt: 2, code: 'retries_exhausted', smtpCode: 421, smtpResponse: expect.stringMatching(/Service not available/) });
    });

    it('fails once the next attempt would start after the retry window that began with the first attempt', async () => {
      const emailId = await newRequestTo();
      refuse(emailId, 450, 'Greylisted');
      const windowed = senderWith({ SEND_MAX_ATTEMPTS: '50', SEND_RETRY_BASE_MS: '10', SEND_RETRY_WINDOW_MS: '1000' });
      await waitUntil(await windowed.send(emailId));
      // The first attempt began over a second ago: the window is over even with 48 attempts left.
      await dataSource.query(`UPDATE mail_attempts SET started_at = started_at - interval '2 seconds' WHERE email_id = $1 AND attempt = 1`, [emailId]);
      expect(await windowed.send(emailId)).toBe('processed');
      expect(await find(emailId)).toMatchObject({ status: 'failed', attempts: 2 });
      expect((await events(emailId))[1]).toMatchObject({ type: 'email.failed', detail: { attempt: 2, code: 'retry_window_elapsed', smtpCode: 450 } });
    });

    it('does not start a retry before the time its email.retrying announced, and has the job wait for it', async () => {
      const emailId = await newRequestTo();
      const recipient = refuse(emailId, 451, 'Mailbox busy, try later');
      const slow = senderWith({ SEND_RETRY_BASE_MS: '4000' });
      const outcome = await slow.send(emailId);
      expect(outcome).toEqual({ retryAt: expect.any(Date) });
      smtpServer.refuseRecipients(() => null);
      // A job that fires early (e.g. made again, without its delay, for a redelivered request).
      const early = await slow.send(emailId).catch((e: unknown) => e);
      expect(early).toBeInstanceOf(NotDueYetError);
      expect(early).toMatchObject({ dueAt: (outcome as { retryAt: Date }).retryAt });
      expect(await find(emailId)).toMatchObject({ status: 'retrying', attempts: 1 });
      expect(await attempts(emailId)).toHaveLength(1);
      expect(smtpServer.recipientAttempts.get(recipient)).toBe(1);
      // The statement itself refuses it: no attempt starts early, whichever path starts it.
      const now = new Date();
      expect(await repository.startNextAttempt(dataSource.manager, emailId, { leaseMs: 10_000, now, holdLanes: [] })).toBeNull();
      // At its time it runs.
      const atTime = await repository.startNextAttempt(dataSource.manager, emailId, { leaseMs: 10_000, now: (outcome as { retryAt: Date }).retryAt, holdLanes: [] });
      expect(atTime).toMatchObject({ attempt: 2, possibleDuplicate: false });
    });

    it('does not send a retry to an address suppressed since the last attempt: the email ends suppressed with the suppression that stopped it', async () => {
      const emailId = await newRequestTo();
      const recipient = refuse(emailId, 451, 'Mailbox busy, try later');
      await waitUntil(await senderWith({ SEND_RETRY_BASE_MS: '10' }).send(emailId));
      smtpServer.refuseRecipients(() => null);
      // Unsubscribed between the attempts (stored lower-case; the request spells it as it came).
      await new SuppressionsRepository().addMany(dataSource.manager, [{ address: recipient.toUpperCase(), category: null, reason: 'unsubscribed', sourceEmailId: null }]);
      expect(await sender.send(emailId)).toBe('skipped');
      expect(await find(emailId)).toMatchObject({ status: 'suppressed', attempts: 1 });
      expect(await attempts(emailId)).toHaveLength(1);
      expect(smtpServer.recipientAttempts.get(recipient)).toBe(1);
      expect(mailsTo(emailId)).toEqual([]);
      // The arrival check's event: its code, and a reason that names the address and the suppression.
      expect((await events(emailId)).map((e) => e.type)).toEqual(['email.retrying', 'email.suppressed']);
      expect((await events(emailId))[1]?.detail).toEqual({ code: 'suppressed', reason: `${recipient} is on the suppression list (unsubscribed)` });
    });

    it('checks suppression in the statement that starts an attempt, by the email category rule', async () => {
      const address = `Reader-${randomUUID()}@example.com`;
      const news = await newRequest({ to: [address], category: 'news' });
      const receipts = await newRequest({ to: [address], category: 'receipts' });
      await new SuppressionsRepository().addMany(dataSource.manager, [{ address, category: 'news', reason: 'unsubscribed', sourceEmailId: null }]);
      const start = (emailId: string) => repository.startNextAttempt(dataSource.manager, emailId, { leaseMs: 10_000, now: new Date(), holdLanes: [] });
      expect(await start(news)).toBeNull();
      expect(await start(receipts)).toMatchObject({ attempt: 1 });
      expect(await sender.send(news)).toBe('skipped');
      expect(await find(news)).toMatchObject({ status: 'suppressed', attempts: 0 });
      expect((await events(news))[0]).toMatchObject({ type: 'email.suppressed', detail: { code: 'suppressed', reason: expect.stringContaining('for category news') } });
    });
  });

  /**
   * The server takes the whole message, end-of-data included, and its reply never reaches us: it
   * answers after the socket timeout, or drops the connection. No process dies; the server has the
   * message. The lane's unconfirmed policy decides, never a plain retry.
   */
  describe('the SMTP window without a crash', () => {
    const windowServer = new SmtpCapture();
    let windowSmtp: SmtpTransport;
    let windowSender: (env: Record<string, string>) => MailSender;

    beforeAll(async () => {
      const port = await windowServer.start();
      const configWith = (env: Record<string, string>) =>
        loadMailerConfig({
          MAILER_DATABASE_URL: url,
          KAFKA_BROKERS: '127.0.0.1:9092',
          REDIS_URL: 'redis://127.0.0.1:6379',
          SMTP_URL: `smtp://127.0.0.1:${port}`,
          SMTP_TLS: 'none',
          SMTP_SOCKET_TIMEOUT_MS: '1000',
          SEND_RETRY_BASE_MS: '10',
          ...env,
        });
      windowSmtp = new SmtpTransport(configWith({}));
      const clock = new Clock();
      const events = new MailEvents(new OutboxWriter({ schema: 'public' }), new KafkaTopics({ brokers: [], clientId: 'mail-sender-window', topicPrefix: '' }), new IdGenerator(), clock);
      windowSender = (env) => new MailSender(senderDataSource, repository, events, windowSmtp, clock, configWith(env), new SuppressionsRepository());
    });

    afterAll(async () => {
      windowSmtp?.onApplicationShutdown();
      await windowServer.stop();
    });

    const copies = (emailId: string) => windowServer.mails.filter((m) => m.emailId === emailId);
    /** Runs the email's attempts as its job would, each at the time the last one announced, until one is final; returns how many ran. */
    const runAttempts = async (sending: MailSender, emailId: string): Promise<number> => {
      for (let run = 1; run <= 10; run++) {
        const outcome = await sending.send(emailId);
        if (typeof outcome === 'string') return run;
        await sleep(Math.max(0, outcome.retryAt.getTime() - Date.now()) + 5);
      }
      throw new Error('still retrying after 10 attempts');
    };

    it('holds as unknown, sending nothing again, a message whose reply came after the socket timeout (hold lane)', async () => {
      windowServer.delayAcceptance(2_000);
      try {
        const held = windowSender({ UNCONFIRMED_SEND_TRANSACTIONAL: 'hold', SEND_MAX_ATTEMPTS: '5' });
        const ids = await Promise.all(Array.from({ length: 5 }, () => newRequest()));
        await Promise.all(ids.map((emailId) => runAttempts(held, emailId)));
        for (const emailId of ids) {
          // On a loaded machine an attempt can time out before its data (a plain deferral, nothing
          // delivered); the attempt that delivered is the last, and it is held.
          const { attempts: last } = (await find(emailId))!;
          expect(await find(emailId)).toMatchObject({ status: 'unknown' });
          expect((await attempts(emailId)).at(-1)).toEqual({ attempt: last, finished: true, outcome: 'unknown' });
          expect((await events(emailId)).at(-1)).toEqual({
            type: 'email.unknown',
            detail: { attempt: last, code: 'smtp_unconfirmed', reason: expect.stringMatching(/whole message.*never got the server's reply/) },
          });
          // A job that runs again (a redelivery, the sweeper) finds nothing to do.
          expect(await held.send(emailId)).toBe('skipped');
        }
        await sleep(2_200); // every late reply has been answered
        expect(ids.map((emailId) => copies(emailId).length)).toEqual([1, 1, 1, 1, 1]);
      } finally {
        windowServer.delayAcceptance(0);
      }
    });

    it('holds as unknown a message whose connection dropped after the end of data (hold lane)', async () => {
      const emailId = await newRequest();
      const stop = windowServer.dropAfterData((m) => m.emailId === emailId);
      try {
        expect(await runAttempts(windowSender({ UNCONFIRMED_SEND_TRANSACTIONAL: 'hold' }), emailId)).toBe(1);
      } finally {
        stop();
      }
      expect(await find(emailId)).toMatchObject({ status: 'unknown', attempts: 1 });
      expect((await events(emailId)).map((e) => e.type)).toEqual(['email.unknown']);
      expect(copies(emailId)).toHaveLength(1);
    });

    it('resends with the same Message-ID and marks it a possible duplicate (resend lane): one extra copy per unconfirmed attempt', async () => {
      const emailId = await newRequest();
      let dropped = 0;
      // The first two attempts lose their reply; the third is answered.
      const stop = windowServer.dropAfterData((m) => m.emailId === emailId && ++dropped <= 2);
      try {
        expect(await runAttempts(windowSender({ UNCONFIRMED_SEND_TRANSACTIONAL: 'resend', SEND_MAX_ATTEMPTS: '5' }), emailId)).toBe(3);
      } finally {
        stop();
      }
      expect(await find(emailId)).toMatchObject({ status: 'sent', attempts: 3 });
      expect(await attempts(emailId)).toEqual([
        { attempt: 1, finished: true, outcome: 'unknown' },
        { attempt: 2, finished: true, outcome: 'unknown' },
        { attempt: 3, finished: true, outcome: 'sent' },
      ]);
      const recorded = await events(emailId);
      expect(recorded.map((e) => e.type)).toEqual(['email.retrying', 'email.retrying', 'email.sent']);
      expect(recorded.map((e) => e.detail.possibleDuplicate)).toEqual([true, true, true]);
      expect(recorded[0]?.detail).toMatchObject({ attempt: 1, code: 'smtp_unconfirmed' });
      const received = copies(emailId);
      expect(received).toHaveLength(3); // the original and one copy per unconfirmed attempt
      expect(new Set(received.map((m) => m.messageId)).size).toBe(1);
    });

    it('holds the last attempt of a resend lane instead of failing it: it may have been delivered', async () => {
      const emailId = await newRequest();
      const stop = windowServer.dropAfterData((m) => m.emailId === emailId);
      try {
        expect(await runAttempts(windowSender({ UNCONFIRMED_SEND_TRANSACTIONAL: 'resend', SEND_MAX_ATTEMPTS: '2' }), emailId)).toBe(2);
      } finally {
        stop();
      }
      expect(await find(emailId)).toMatchObject({ status: 'unknown', attempts: 2 });
      expect((await events(emailId)).map((e) => e.type)).toEqual(['email.retrying', 'email.unknown']);
      expect(copies(emailId)).toHaveLength(2);
    });

    it('still retries as a plain deferral a failure before the end of data', async () => {
      const emailId = await newRequest();
      const recipient = (await find(emailId))!.payload.to[0]!;
      windowServer.refuseRecipients((address) => (address === recipient ? { code: 451, message: 'try later' } : null));
      try {
        expect(await windowSender({ UNCONFIRMED_SEND_TRANSACTIONAL: 'hold' }).send(emailId)).toEqual({ retryAt: expect.any(Date) });
      } finally {
        windowServer.refuseRecipients(() => null);
      }
      expect(await find(emailId)).toMatchObject({ status: 'retrying' });
      expect((await events(emailId))[0]?.detail).not.toHaveProperty('possibleDuplicate');
    });
  });
});
