import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { DeadLetterHeaders, Topics, deadLetterTopic } from '@app/contracts';
import { waitFor } from '@app/testing';
import { EmailLoopStack, KAFKA_BROKERS } from './stack.js';

const EMAIL_COUNT = Number(process.env.E2E_EMAIL_COUNT ?? 300);
/** Far below the default, so a body well under the HTTP and character limits can exceed it. */
const MAX_MESSAGE_BYTES = 200_000;

describe('the email loop, end to end on Kafka, PostgreSQL, Redis and SMTP', () => {
  const stack = new EmailLoopStack();
  const kafka = new Kafka({ clientId: 'e2e', brokers: KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING });

  beforeAll(async () => {
    await stack.start({ businessEnv: { KAFKA_MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES) } });
  });

  afterAll(async () => {
    const codes = await stack.stop();
    // Graceful shutdown is part of the contract: SIGTERM ends both apps with exit code 0.
    expect(codes).toEqual({ business: 0, mailer: 0 });
  });

  /** Rows of one of the module's tables, in its default schema. */
  async function countRows(table: 'emails' | 'outbox'): Promise<number> {
    const client = new pg.Client({ connectionString: stack.businessDatabaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM email_loop.${table}`);
      return rows[0]?.n ?? -1;
    } finally {
      await client.end();
    }
  }
  const countEmails = (): Promise<number> => countRows('emails');

  it(`sends ${EMAIL_COUNT} emails, each exactly once, and reports every one sent with its message id`, async () => {
    const recipients = Array.from({ length: EMAIL_COUNT }, (_, i) => `user${i}@example.test`);
    const started = performance.now();
    const ids: string[] = [];
    // A few concurrent clients, as a real service would have.
    for (let i = 0; i < recipients.length; i += 25) {
      const batch = recipients.slice(i, i + 25);
      const responses = await Promise.all(
        batch.map((to, j) => stack.post('/v1/emails', { to, subject: `Hello ${i + j}`, text: 'Hi there' })),
      );
      for (const res of responses) {
        expect(res.status).toBe(202);
        expect(res.body).toMatchObject({ id: expect.any(String), status: 'queued' });
        ids.push(res.body.id);
      }
    }
    const accepted = performance.now();

    await waitFor(() => stack.smtp.mails.length >= EMAIL_COUNT || undefined, {
      timeoutMs: 120_000,
      description: `${EMAIL_COUNT} emails at the SMTP server`,
    });
    const statuses = await waitFor(
      async () => {
        const views = await Promise.all(ids.map((id) => stack.get(`/v1/emails/${id}`)));
        return views.every((v) => v.body?.status === 'sent') ? views : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500, description: 'every email to be reported sent' },
    );
    const done = performance.now();

    const counts = stack.smtp.countByRecipient();
    expect(counts.size).toBe(EMAIL_COUNT);
    for (const to of recipients) expect(counts.get(to), to).toBe(1);

    for (const { status, body } of statuses) {
      expect(status).toBe(200);
      expect(body.messageId).toBe(`<${body.id}@email-loop.local>`);
      expect(body.events.map((e: { type: string }) => e.type)).toEqual(['email.accepted', 'email.sent']);
      const mail = stack.smtp.mails.find((m) => m.emailId === body.id);
      expect(mail?.messageId).toBe(body.messageId);
      expect(mail?.recipients).toEqual(body.to);
    }

    const seconds = (done - started) / 1000;
    console.log(
      `[e2e] ${EMAIL_COUNT} emails: accepted over HTTP in ${((accepted - started) / 1000).toFixed(2)} s, ` +
        `all sent and reported in ${seconds.toFixed(2)} s = ${(EMAIL_COUNT / seconds).toFixed(1)} emails/s end to end`,
    );
  });

  it('answers the same id for a repeated Idempotency-Key and 422 for the same key with another body', async () => {
    const key = `order-${stack.id}-42`;
    const body = { to: 'idem@example.test', subject: 'Your receipt', text: 'Thanks' };
    const before = await countEmails();
    const first = await stack.post('/v1/emails', body, { 'Idempotency-Key': key });
    const again = await stack.post('/v1/emails', { subject: 'Your receipt', text: 'Thanks', to: ['idem@example.test'] }, { 'Idempotency-Key': key });
    const other = await stack.post('/v1/emails', { ...body, subject: 'Another' }, { 'Idempotency-Key': key });

    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.body.id).toBe(first.body.id);
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe('idempotency_key_conflict');
    expect(await countEmails()).toBe(before + 1);

    await waitFor(async () => (await stack.get(`/v1/emails/${first.body.id}`)).body.status === 'sent', {
      description: 'the idempotent email to be sent',
    });
    expect(stack.smtp.countByRecipient().get('idem@example.test')).toBe(1);
  });

  it.each([
    ['invalid JSON', '{"to": ', 'entity_parse_failed', null],
    ['a missing recipient', { subject: 'Hi', text: 'x' }, 'invalid_input', 'to'],
    ['an invalid address', { to: 'not-an-address', subject: 'Hi', text: 'x' }, 'invalid_input', 'to'],
    ['a CR/LF in the subject', { to: 'a@example.test', subject: 'Hi\r\nBcc: victim@example.test', text: 'x' }, 'invalid_input', 'subject'],
    ['a CR/LF in an address', { to: 'a@example.test\r\nBcc: v@example.test', subject: 'Hi', text: 'x' }, 'invalid_input', 'to'],
    ['an oversized subject', { to: 'a@example.test', subject: 'x'.repeat(1_000), text: 'x' }, 'invalid_input', 'subject'],
    ['no body at all', { to: 'a@example.test', subject: 'Hi' }, 'invalid_input', 'text'],
    ['an unknown lane', { to: 'a@example.test', subject: 'Hi', text: 'x', lane: 'urgent' }, 'invalid_input', 'lane'],
    ['an unknown field', { to: 'a@example.test', subject: 'Hi', text: 'x', sender: 'x@example.test' }, 'invalid_input', '(root)'],
    ['a from while no sender domain is configured', { to: 'a@example.test', subject: 'Hi', text: 'x', from: 'x@example.test' }, 'invalid_input', 'from'],
  ])('rejects %s with 400, a field list, and writes nothing', async (_name, body, code, field) => {
    const before = await countEmails();
    const res = await stack.post('/v1/emails', body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(code);
    if (field !== null) {
      const paths: string[] = res.body.error.fields.map((f: { path: string }) => f.path);
      // `to.0` names the first address of `to`.
      expect(paths.some((p) => p === field || p.startsWith(`${field}.`)), paths.join(', ')).toBe(true);
    }
    expect(await countEmails()).toBe(before);
  });

  it('rejects with 413 an email under every character limit that is over KAFKA_MAX_MESSAGE_BYTES as UTF-8', async () => {
    const before = { emails: await countEmails(), outbox: await countRows('outbox') };
    const key = `too-large-${stack.id}`;
    // 100,000 characters (text allows 262,144), 300,000 bytes: over the limit, under the 1 MB body limit.
    const big = { to: 'too-large@example.test', subject: 'Big', text: '€'.repeat(100_000) };
    const res = await stack.post('/v1/emails', big, { 'Idempotency-Key': key });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe('email_too_large');
    expect(res.body.error.fields).toEqual([{ path: '(root)', message: expect.stringContaining(`limit is ${MAX_MESSAGE_BYTES} bytes`) }]);
    expect({ emails: await countEmails(), outbox: await countRows('outbox') }).toEqual(before);

    // Nothing was written, so the key is still free for a request that fits.
    const small = await stack.post('/v1/emails', { ...big, text: '€'.repeat(1_000) }, { 'Idempotency-Key': key });
    expect(small.status).toBe(202);
    await waitFor(async () => (await stack.get(`/v1/emails/${small.body.id}`)).body.status === 'sent', {
      description: 'the email that fits to be sent',
    });
  });

  it('rejects an invalid Idempotency-Key header with 400', async () => {
    const res = await stack.post('/v1/emails', { to: 'a@example.test', subject: 'Hi', text: 'x' }, { 'Idempotency-Key': 'has space' });
    expect(res.status).toBe(400);
    expect(res.body.error.fields[0].path).toBe('(root)');
  });

  it('answers 404 for an unknown email and 400 for a malformed id', async () => {
    expect((await stack.get('/v1/emails/7d8c3f0e-3a57-4c4b-9f11-0d3c7a1b2c3d')).status).toBe(404);
    expect((await stack.get('/v1/emails/not-a-uuid')).status).toBe(400);
  });

  it('validates reconciliation requests on the mailer: 400 bad body, 404 unknown email, 409 not held', async () => {
    const reconcile = async (id: string, body: unknown) => {
      const res = await fetch(`${stack.mailerUrl}/v1/unconfirmed/${id}/reconcile`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...stack.authHeaders('mailer') },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as { error?: { code: string } } };
    };
    const sent = await stack.post('/v1/emails', { to: 'reconcile@example.test', subject: 'r', text: 'r' });
    await waitFor(async () => (await stack.get(`/v1/emails/${sent.body.id}`)).body?.status === 'sent', { timeoutMs: 30_000 });

    expect(await reconcile(sent.body.id, { outcome: 'maybe' })).toMatchObject({ status: 400, body: { error: { code: 'invalid_input' } } });
    expect(await reconcile('7d8c3f0e-3a57-4c4b-9f11-0d3c7a1b2c3d', { outcome: 'delivered' })).toMatchObject({
      status: 404,
      body: { error: { code: 'mail_request_not_found' } },
    });
    expect(await reconcile(sent.body.id, { outcome: 'resend' })).toMatchObject({
      status: 409,
      body: { error: { code: 'mail_request_not_unknown' } },
    });
    expect(stack.smtp.countByRecipient().get('reconcile@example.test')).toBe(1); // nothing was resent
    const list = (await (await fetch(`${stack.mailerUrl}/v1/unconfirmed`, { headers: stack.authHeaders('mailer') })).json()) as { items: unknown[] };
    expect(list.items).toEqual([]);
  });

  it('dead-letters malformed Kafka messages with their reason and keeps consuming', async () => {
    const requestsTopic = `${stack.topicPrefix}${Topics.requests.transactional}`;
    const eventsTopic = `${stack.topicPrefix}${Topics.events}`;
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: requestsTopic,
      messages: [
        { key: 'poison-1', value: 'this is not json' },
        { key: 'poison-2', value: JSON.stringify({ version: 1, type: 'email.requested', emailId: 'nope' }) },
      ],
    });
    await producer.send({ topic: eventsTopic, messages: [{ key: 'poison-3', value: '{"version":99}' }] });
    await producer.disconnect();

    // The partitions move on: a valid email sent after the poison still goes out.
    const after = await stack.post('/v1/emails', { to: 'after-poison@example.test', subject: 'Still working', text: 'x' });
    expect(after.status).toBe(202);
    await waitFor(async () => (await stack.get(`/v1/emails/${after.body.id}`)).body.status === 'sent', {
      description: 'the email after the poison messages to be sent',
    });

    const deadLetters = await readAll(kafka, [deadLetterTopic(requestsTopic), deadLetterTopic(eventsTopic)], 3);
    const byKey = new Map(deadLetters.map((m) => [m.key, m]));
    expect(byKey.get('poison-1')?.headers[DeadLetterHeaders.reason]).toMatch(/not valid JSON/);
    expect(byKey.get('poison-1')?.value).toBe('this is not json');
    expect(byKey.get('poison-2')?.headers[DeadLetterHeaders.reason]).toMatch(/emailId/);
    expect(byKey.get('poison-2')?.headers[DeadLetterHeaders.sourceTopic]).toBe(requestsTopic);
    expect(byKey.get('poison-3')?.headers[DeadLetterHeaders.reason]).toMatch(/version/);
    expect(byKey.get('poison-3')?.headers[DeadLetterHeaders.consumerGroup]).toBe(`${stack.topicPrefix}business.email-events`);
  });

  it('marks an email to a recipient the server refuses (550) failed, with the SMTP reply, after one try', async () => {
    stack.smtp.refuseRecipients((a) => (a === 'nobody@example.test' ? { code: 550, message: 'No such user here' } : null));
    const res = await stack.post('/v1/emails', { to: 'nobody@example.test', subject: 'Hi', text: 'x' });
    const view = await waitFor(
      async () => {
        const v = await stack.get(`/v1/emails/${res.body.id}`);
        return v.body.status === 'failed' ? v.body : undefined;
      },
      { description: 'the refused email to be failed' },
    );
    expect(view.events.map((e: { type: string }) => e.type)).toEqual(['email.accepted', 'email.failed']);
    const failed = view.events[1];
    expect(failed.detail.smtpCode).toBe(550);
    expect(failed.detail.smtpResponse).toMatch(/No such user here/);
    expect(failed.detail.attempt).toBe(1);
  });
});

interface ReadMessage {
  key: string;
  value: string;
  headers: Record<string, string>;
}

/** Reads topics from the beginning until `expected` messages arrived. */
async function readAll(kafka: Kafka, topics: string[], expected: number): Promise<ReadMessage[]> {
  const consumer = kafka.consumer({ groupId: `e2e-reader-${Math.random().toString(36).slice(2)}` });
  const messages: ReadMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) if (v !== undefined) headers[k] = v.toString();
        messages.push({ key: message.key?.toString() ?? '', value: message.value?.toString() ?? '', headers });
      },
    });
    await waitFor(() => messages.length >= expected || undefined, { timeoutMs: 30_000, description: `${expected} dead letters` });
    return messages;
  } finally {
    await consumer.disconnect();
  }
}
