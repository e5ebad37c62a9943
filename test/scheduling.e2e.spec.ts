import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { sleep } from '@app/common';
import { CONTRACT_VERSION, Topics, type EmailCancelRequestedMessage, type EmailRequestedMessage } from '@app/contracts';
import { waitFor } from '@app/testing';
import { EmailLoopStack, KAFKA_BROKERS } from './stack.js';

/** How late after its `sendAt` a scheduled email may reach the SMTP server. */
const ON_TIME_MS = 1_000;

/**
 * Scheduled sending and cancel through the HTTP API, on the real loop: `sendAt` holds an email as
 * `scheduled` and sends it at its time, `DELETE /v1/emails/:id` cancels one before it is handed
 * to SMTP, and refuses one that already ended.
 */
describe('scheduled sending and cancel, end to end on Kafka, PostgreSQL, Redis and SMTP', () => {
  const stack = new EmailLoopStack();

  beforeAll(async () => {
    await stack.start();
  });

  afterAll(async () => {
    const codes = await stack.stop();
    expect(codes).toEqual({ business: 0, mailer: 0 });
  });

  async function cancel(id: string): Promise<{ status: number; body: any }> {
    const res = await fetch(`${stack.businessUrl}/v1/emails/${id}`, { method: 'DELETE', headers: stack.authHeaders() });
    return { status: res.status, body: await res.json().catch(() => null) };
  }
  const statusOf = async (id: string): Promise<string | undefined> => (await stack.get(`/v1/emails/${id}`)).body?.status;
  const mailsOf = (id: string) => stack.smtp.mails.filter((m) => m.emailId === id);

  it('holds an email with a sendAt 3 s ahead as scheduled, and hands it to SMTP no earlier than its time and within a second of it', async () => {
    const sendAt = new Date(Date.now() + 3_000);
    const res = await stack.post('/v1/emails', { to: 'later@example.test', subject: 'Later', text: 'at its time', sendAt: sendAt.toISOString() });
    expect(res.status).toBe(202);
    const id: string = res.body.id;

    await waitFor(async () => (await statusOf(id)) === 'scheduled', { timeoutMs: 2_500, intervalMs: 50, description: 'status scheduled before its time' });
    expect(mailsOf(id)).toEqual([]);

    const [mail] = await waitFor(() => (mailsOf(id).length > 0 ? mailsOf(id) : undefined), { timeoutMs: 10_000, intervalMs: 20, description: 'the mail at the SMTP server' });
    const lateMs = mail!.receivedAt.getTime() - sendAt.getTime();
    expect(lateMs).toBeGreaterThanOrEqual(0);
    expect(lateMs).toBeLessThanOrEqual(ON_TIME_MS);

    await waitFor(async () => (await statusOf(id)) === 'sent', { timeoutMs: 10_000, description: 'status sent' });
    const view = (await stack.get(`/v1/emails/${id}`)).body;
    expect(view.events.map((e: { type: string }) => e.type)).toEqual(['email.scheduled', 'email.sent']);
    expect(view.events[0].detail).toEqual({ sendAt: sendAt.toISOString() });
  });

  it('cancels a scheduled email through DELETE: it ends canceled and never reaches SMTP; a repeated DELETE is harmless', async () => {
    const sendAt = new Date(Date.now() + 4_000);
    const { body } = await stack.post('/v1/emails', { to: 'never@example.test', subject: 'Never', text: 'canceled', sendAt: sendAt.toISOString() });
    const id: string = body.id;
    await waitFor(async () => (await statusOf(id)) === 'scheduled', { timeoutMs: 3_000, intervalMs: 50, description: 'status scheduled' });

    expect(await cancel(id)).toEqual({ status: 202, body: { id, status: 'scheduled', cancel: 'requested' } });
    await waitFor(async () => (await statusOf(id)) === 'canceled', { timeoutMs: 3_000, intervalMs: 50, description: 'status canceled' });
    const again = await cancel(id);
    expect(again).toMatchObject({ status: 409, body: { error: { code: 'email_already_final', details: { status: 'canceled' } } } });

    // Past its time, and then some: nothing was sent.
    await sleep(Math.max(0, sendAt.getTime() - Date.now()) + 1_500);
    expect(mailsOf(id)).toEqual([]);
    const view = (await stack.get(`/v1/emails/${id}`)).body;
    expect(view.status).toBe('canceled');
    expect(view.events.map((e: { type: string }) => e.type)).toEqual(['email.scheduled', 'email.canceled']);
  });

  it('answers DELETE of a sent email with 409 and its status, of an unknown one with 404', async () => {
    const { body } = await stack.post('/v1/emails', { to: 'now@example.test', subject: 'Now', text: 'x' });
    await waitFor(async () => (await statusOf(body.id)) === 'sent', { timeoutMs: 15_000, description: 'status sent' });

    expect(await cancel(body.id)).toMatchObject({ status: 409, body: { error: { code: 'email_already_final', details: { status: 'sent' } } } });
    expect((await cancel('7d8c3f0e-3a57-4c4b-9f11-0d3c7a1b2c3d')).status).toBe(404);
    expect(mailsOf(body.id)).toHaveLength(1);
  });

  it('lets a cancel in the same Kafka batch as its request win: every email ends canceled and none reaches SMTP', async () => {
    // 200 requests, each followed by its cancel, in one produce call: the mailer gets them as
    // one run. Before the fix the run's send jobs were made before its cancels were applied, and
    // the workers started most of them first.
    const pairs = Array.from({ length: 200 }, (_, i) => {
      const emailId = randomUUID();
      const requestedAt = new Date().toISOString();
      const request: EmailRequestedMessage = {
        version: CONTRACT_VERSION,
        type: 'email.requested',
        emailId,
        requestedAt,
        lane: 'transactional',
        to: [`same-batch-${i}@example.test`],
        subject: 'Canceled in the same batch',
        text: 'never sent',
      };
      const cancel: EmailCancelRequestedMessage = { version: CONTRACT_VERSION, type: 'email.cancel_requested', emailId, lane: 'transactional', requestedAt };
      return { emailId, request, cancel };
    });
    const kafka = new Kafka({ clientId: 'e2e-same-batch-cancel', brokers: KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: `${stack.topicPrefix}${Topics.requests.transactional}`,
      messages: pairs.flatMap(({ emailId, request, cancel }) => [
        { key: emailId, value: JSON.stringify(request) },
        { key: emailId, value: JSON.stringify(cancel) },
      ]),
    });
    await producer.disconnect();

    const db = new pg.Client({ connectionString: stack.mailerDatabaseUrl });
    await db.connect();
    try {
      const statuses = async (): Promise<string[]> =>
        (await db.query(`SELECT status FROM mail_requests WHERE email_id = ANY($1::uuid[])`, [pairs.map((p) => p.emailId)])).rows.map((r) => r.status as string);
      await waitFor(async () => ((await statuses()).length === pairs.length && (await statuses()).every((s) => !['pending', 'sending'].includes(s))) || undefined, {
        timeoutMs: 15_000,
        description: 'every email of the batch to end',
      });
      // An email requested after them on the same lane is sent: any job the batch had left behind would have run by then.
      const { body } = await stack.post('/v1/emails', { to: 'after-the-batch@example.test', subject: 'After', text: 'x' });
      await waitFor(async () => (await statusOf(body.id)) === 'sent', { timeoutMs: 15_000, description: 'the email after the batch sent' });
      await sleep(500);
      expect(await statuses()).toEqual(pairs.map(() => 'canceled'));
      const sentTo = new Set(stack.smtp.mails.flatMap((m) => m.recipients));
      expect(pairs.filter((_, i) => sentTo.has(`same-batch-${i}@example.test`))).toEqual([]);
    } finally {
      await db.end();
    }
  });

  it('refuses a sendAt in the past, too far ahead or after expiresAt with 400 and a field error', async () => {
    const now = Date.now();
    for (const patch of [
      { sendAt: new Date(now - 600_000).toISOString() },
      { sendAt: new Date(now + 31 * 86_400_000).toISOString() },
      { sendAt: new Date(now + 60_000).toISOString(), expiresAt: new Date(now + 30_000).toISOString() },
    ]) {
      const res = await stack.post('/v1/emails', { to: 'bad@example.test', subject: 'Bad', text: 'x', ...patch });
      expect(res.status).toBe(400);
      expect(res.body.error.fields).toEqual([{ path: 'sendAt', message: expect.any(String) }]);
    }
  });
});
