import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { CONTRACT_VERSION, Topics, type SuppressionChangedMessage } from '@app/contracts';
import { waitFor } from '@app/testing';
import { EmailLoopStack, KAFKA_BROKERS } from './stack.js';

interface EmailView {
  id: string;
  status: string;
  events: { type: string; detail: { code?: string; reason?: string; smtpCode?: number } }[];
}

/**
 * The mailer's checks end to end through `POST /v1/emails`: a hard bounce puts the address on the
 * suppression list and the next email to it ends `suppressed` with no SMTP attempt; the mailer's
 * suppressions API adds, lists and removes; a duplicate within its window ends `deduplicated`;
 * the (N+1)th email of a capped category ends `rejected` with `frequency_cap`; an unsubscribe
 * published on `mail.suppressions` reaches the list. Every outcome is
 * read from the business side's `GET /v1/emails/:id`, events included.
 */
describe('the mailer checks, end to end', () => {
  const stack = new EmailLoopStack();

  beforeAll(async () => {
    // Two attempts, so that "retries exhausted" takes about a second (SEND_RETRY_BASE_MS is 200 in the stack).
    await stack.start({ mailerEnv: { DEDUP_CATEGORIES: 'digest:3600', FREQUENCY_CAP: 'newsletter:2', SEND_MAX_ATTEMPTS: '2' } });
  });

  afterAll(async () => {
    expect(await stack.stop()).toEqual({ business: 0, mailer: 0 });
  });

  async function send(body: Record<string, unknown>): Promise<string> {
    const res = await stack.post('/v1/emails', { subject: 'Hello', text: 'Hi there', ...body });
    expect(res.status).toBe(202);
    return res.body.id as string;
  }

  /** The email once its status is final. */
  async function settled(id: string): Promise<EmailView> {
    return waitFor(
      async () => {
        const { body } = await stack.get(`/v1/emails/${id}`);
        return body && !['queued', 'accepted', 'retrying'].includes(body.status) ? (body as EmailView) : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, description: `email ${id} to reach a final status` },
    );
  }

  async function mailer(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(`${stack.mailerUrl}${path}`, {
      method,
      headers: { ...stack.authHeaders('mailer'), ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: await res.json().catch(() => null) };
  }

  it('suppresses an address after a 550 5.1.1 bounce: the next email to it ends suppressed without an SMTP attempt', async () => {
    const gone = `gone-${stack.id}@example.test`;
    stack.smtp.refuseRecipients((address) => (address === gone ? { code: 550, message: '5.1.1 user unknown' } : null));
    const bounced = await settled(await send({ to: gone }));
    expect(bounced.status).toBe('failed');
    expect(bounced.events.at(-1)).toMatchObject({ type: 'email.failed', detail: { smtpCode: 550 } });
    expect(stack.smtp.recipientAttempts.get(gone)).toBe(1);

    const listed = await mailer('GET', `/v1/suppressions?address=${encodeURIComponent(gone)}`);
    expect(listed.body.items).toEqual([
      { address: gone, category: null, reason: 'hard_bounce', sourceEmailId: bounced.id, createdAt: expect.any(String) },
    ]);

    // The server would take it now: only the list stands between the address and a second attempt.
    stack.smtp.refuseRecipients(() => null);
    const next = await settled(await send({ to: gone.toUpperCase(), subject: 'Again' }));
    expect(next.status).toBe('suppressed');
    expect(next.events.map((e) => e.type)).toEqual(['email.suppressed']);
    expect(next.events[0]!.detail).toMatchObject({ code: 'suppressed', reason: expect.stringContaining('hard_bounce') });
    expect(stack.smtp.recipientAttempts.get(gone)).toBe(1);
  });

  it('adds, lists and removes entries through the mailer API, per category, refusing bad input with 400', async () => {
    const reader = `reader-${stack.id}@example.test`;
    expect(await mailer('POST', '/v1/suppressions', { address: 'not-an-address', reason: 'sometimes' })).toMatchObject({
      status: 400,
      body: { error: { code: 'invalid_input', fields: [{ path: 'address' }, { path: 'reason' }] } },
    });
    const added = await mailer('POST', '/v1/suppressions', { address: reader, category: 'promo', reason: 'unsubscribed' });
    expect(added).toMatchObject({ status: 201, body: { created: true, suppression: { address: reader, category: 'promo', reason: 'unsubscribed' } } });
    expect(await mailer('POST', '/v1/suppressions', { address: reader, category: 'promo' })).toMatchObject({ status: 200, body: { created: false } });
    expect((await mailer('GET', `/v1/suppressions?address=${reader}`)).body.items).toHaveLength(1);
    expect((await mailer('GET', '/v1/suppressions?limit=0')).status).toBe(400);

    const promo = await settled(await send({ to: reader, category: 'promo', lane: 'bulk' }));
    const receipt = await settled(await send({ to: reader, category: 'receipt' }));
    expect([promo.status, receipt.status]).toEqual(['suppressed', 'sent']);

    expect(await mailer('DELETE', `/v1/suppressions/${reader}?category=promo`)).toEqual({ status: 200, body: { removed: 1 } });
    expect(await mailer('DELETE', `/v1/suppressions/${reader}`)).toMatchObject({ status: 404, body: { error: { code: 'suppression_not_found' } } });
    const again = await settled(await send({ to: reader, category: 'promo', lane: 'bulk', subject: 'Back' }));
    expect(again.status).toBe('sent');
  });

  it('sends the same email once within its category window: the copy ends deduplicated', async () => {
    const to = `dedup-${stack.id}@example.test`;
    const body = { to, category: 'digest', lane: 'bulk', subject: 'Your digest', html: '<p>Today</p>' };
    const emails = await Promise.all([send(body), send(body)].map(async (id) => settled(await id)));
    expect(emails.map((e) => e.status).sort()).toEqual(['deduplicated', 'sent']);
    const copy = emails.find((e) => e.status === 'deduplicated')!;
    expect(copy.events.map((e) => e.type)).toEqual(['email.deduplicated']);
    expect(copy.events[0]!.detail.code).toBe('duplicate');
    expect(stack.smtp.countByRecipient().get(to)).toBe(1);
    // Other content to the same recipient is not a duplicate.
    expect((await settled(await send({ ...body, subject: 'Another digest' }))).status).toBe('sent');
  });

  it.each([
    ['refused with 550 5.7.1 (a policy refusal, not a bounce)', { code: 550, message: '5.7.1 relaying paused' }, 1],
    ['deferred with 451 until its retries ran out', { code: 451, message: '4.3.0 try again later' }, 2],
  ])('delivers the same email again after the first copy %s: a failed email does not hold its dedup key', async (_case, refusal, attempts) => {
    const to = `resend-${attempts}-${stack.id}@example.test`;
    const body = { to, category: 'digest', lane: 'bulk', subject: 'Outage digest', html: '<p>Today</p>' };
    stack.smtp.refuseRecipients((address) => (address === to ? refusal : null));
    const first = await settled(await send(body));
    expect(first.status).toBe('failed');
    expect(stack.smtp.recipientAttempts.get(to)).toBe(attempts);
    expect(stack.smtp.countByRecipient().get(to) ?? 0).toBe(0);

    // The outage is over: the same content again is delivered, not deduplicated.
    stack.smtp.refuseRecipients(() => null);
    const resent = await settled(await send(body));
    expect(resent.status).toBe('sent');
    expect(stack.smtp.countByRecipient().get(to)).toBe(1);
    // Once sent, the key is held for the window: a third copy is a duplicate.
    const third = await settled(await send(body));
    expect(third.status).toBe('deduplicated');
    expect(stack.smtp.countByRecipient().get(to)).toBe(1);
  });

  it('rejects the third newsletter of the day to one recipient with frequency_cap (cap 2)', async () => {
    const to = `capped-${stack.id}@example.test`;
    const ids = await Promise.all([1, 2, 3].map((n) => send({ to, category: 'newsletter', lane: 'bulk', subject: `Issue ${n}` })));
    const emails = await Promise.all(ids.map(settled));
    expect(emails.map((e) => e.status).sort()).toEqual(['rejected', 'sent', 'sent']);
    const rejected = emails.find((e) => e.status === 'rejected')!;
    expect(rejected.events.map((e) => e.type)).toEqual(['email.rejected']);
    expect(rejected.events[0]!.detail).toMatchObject({ code: 'frequency_cap', reason: expect.stringContaining('newsletter') });
    expect(stack.smtp.countByRecipient().get(to)).toBe(2);
  });
  it('applies suppression.added and suppression.removed from mail.suppressions (the business side\'s unsubscribes)', async () => {
    const to = `unsubscribed-${stack.id}@example.test`;
    const kafka = new Kafka({ clientId: 'e2e-suppressions', brokers: KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    const publish = async (type: SuppressionChangedMessage['type']): Promise<void> => {
      const change: SuppressionChangedMessage = {
        version: CONTRACT_VERSION,
        eventId: randomUUID(),
        type,
        address: to,
        category: 'newsletter',
        reason: 'unsubscribed',
        occurredAt: new Date().toISOString(),
      };
      await producer.send({ topic: `${stack.topicPrefix}${Topics.suppressions}`, messages: [{ key: to, value: JSON.stringify(change) }] });
    };
    const listed = async (): Promise<unknown[]> => (await mailer('GET', `/v1/suppressions?address=${to}`)).body.items;
    try {
      await publish('suppression.added');
      await waitFor(async () => (await listed()).length === 1 || undefined, { timeoutMs: 30_000, description: 'the unsubscribe on the list' });
      expect(await listed()).toEqual([expect.objectContaining({ address: to, category: 'newsletter', reason: 'unsubscribed' })]);
      expect((await settled(await send({ to, category: 'newsletter', lane: 'bulk', subject: 'Weekly' }))).status).toBe('suppressed');

      await publish('suppression.removed');
      await waitFor(async () => (await listed()).length === 0 || undefined, { timeoutMs: 30_000, description: 'the entry removed' });
    } finally {
      await producer.disconnect();
    }
  });
});
