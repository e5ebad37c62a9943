import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { DeadLetterHeaders, Topics, deadLetterTopic } from '@app/contracts';
import { waitFor } from '@app/testing';
import { EmailLoopStack, KAFKA_BROKERS } from './stack.js';

const RENDER_TIMEOUT_MS = 2000;
/** JSON text nested `levels` deep under `key` (built as text: the test process must not overflow either). */
const deepJson = (levels: number): string => `${'{"a":'.repeat(levels)}"x"${'}'.repeat(levels)}`;

/**
 * Inputs that used to break the apps, against the built apps: a template render that never ends,
 * NUL characters and lone surrogates (PostgreSQL refuses both), JSON nested 10,000 deep. Each is a
 * 400 at its field (or a dead letter on Kafka), nothing is written, and the apps keep serving.
 */
describe('unsafe input, end to end', () => {
  const stack = new EmailLoopStack();
  const kafka = new Kafka({ clientId: 'e2e-unsafe', brokers: KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING });

  beforeAll(async () => {
    await stack.start({ businessEnv: { TEMPLATE_RENDER_TIMEOUT_MS: String(RENDER_TIMEOUT_MS) } });
  });

  afterAll(async () => {
    const codes = await stack.stop();
    expect(codes).toEqual({ business: 0, mailer: 0 });
  });

  async function emailCount(): Promise<number> {
    const client = new pg.Client({ connectionString: stack.businessDatabaseUrl });
    await client.connect();
    try {
      return (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM email_loop.emails`)).rows[0]?.n ?? -1;
    } finally {
      await client.end();
    }
  }

  it('stops a four-level {{#each}} over 200 items at its deadline with a 400, and keeps serving meanwhile', async () => {
    const bomb = {
      name: 'bomb',
      subject: 'Hi',
      html: '{{#each items}}{{#each @root.items}}{{#each @root.items}}{{#each @root.items}}{{/each}}{{/each}}{{/each}}{{/each}}',
      variables: [{ name: 'items' }],
    };
    expect((await stack.post('/v1/templates', bomb)).status).toBe(201);

    const started = Date.now();
    let previewDone = false;
    const preview = stack.post('/v1/templates/bomb/preview', { data: { items: Array.from({ length: 200 }, (_, i) => i) } }).finally(() => {
      previewDone = true;
    });
    // While the render runs, the app answers other requests: it is not starved.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const during = await stack.get('/v1/templates');
    expect(during.status).toBe(200);
    expect(previewDone).toBe(false);

    const res = await preview;
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'template_render_limit', fields: [{ path: 'data', message: `takes longer than ${RENDER_TIMEOUT_MS} ms to render` }] });
    expect(Date.now() - started).toBeLessThan(RENDER_TIMEOUT_MS + 8000);

    // Sent with the same template: refused the same way, nothing written.
    const send = await stack.post('/v1/emails', { to: 'bomb@example.test', template: 'bomb', data: { items: Array.from({ length: 200 }, (_, i) => i) } });
    expect(send.status).toBe(400);
    expect(send.body.error.code).toBe('template_render_limit');
    expect(await emailCount()).toBe(0);
  });

  it.each([
    ['NUL in subject', { subject: 'Hi\u0000' }, 'subject', 'contains a NUL character'],
    ['NUL in text', { text: 'a\u0000' }, 'text', 'contains a NUL character'],
    ['NUL in html', { html: '<p>\u0000</p>' }, 'html', 'contains a NUL character'],
    ['NUL in metadata', { metadata: { order: '\u0000' } }, 'metadata.order', 'contains a NUL character'],
    ['a lone surrogate in subject', { subject: 'Hi \uD83D' }, 'subject', 'contains a lone surrogate (not valid Unicode)'],
    ['__proto__ in metadata', JSON.parse('{"metadata":{"__proto__":{"x":"1"}}}') as object, 'metadata.__proto__', 'is a reserved key (__proto__)'],
  ])('POST /v1/emails: %s is a 400 at the field and writes nothing', async (_name, patch, path, message) => {
    const res = await stack.post('/v1/emails', { to: 'ada@example.test', subject: 'Hi', text: 'x', ...patch });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'invalid_input', fields: [{ path, message }] });
    expect(await emailCount()).toBe(0);
  });

  it('POST /v1/emails: metadata nested 10,000 deep is a 400 at the field, and the app keeps serving', async () => {
    const body = `{"to":"ada@example.test","subject":"Hi","text":"x","metadata":${deepJson(10_000)}}`;
    const res = await stack.post('/v1/emails', body);
    expect(res.status).toBe(400);
    expect(res.body.error.fields).toEqual([{ path: `metadata.${Array(31).fill('a').join('.')}`, message: 'is nested more than 32 levels deep' }]);
    expect((await stack.get('/v1/templates')).status).toBe(200);
    expect(await emailCount()).toBe(0);
  });

  it('templates, webhooks and the mailer’s suppressions follow the same rule', async () => {
    const template = await stack.post('/v1/templates', { name: 'nul', subject: 'Hi\u0000', text: 'x' });
    expect(template.status).toBe(400);
    expect(template.body.error.fields).toEqual([{ path: 'subject', message: 'contains a NUL character' }]);

    const preview = await stack.post('/v1/templates/bomb/preview', `{"data":${deepJson(10_000)}}`);
    expect(preview.status).toBe(400);
    expect(preview.body.error.fields[0].message).toBe('is nested more than 32 levels deep');

    const webhook = await stack.post('/v1/webhooks', { url: 'https://hooks.example.test/\uDC00', events: ['email.sent'] });
    expect(webhook.status).toBe(400);
    expect(webhook.body.error.fields).toEqual([{ path: 'url', message: 'contains a lone surrogate (not valid Unicode)' }]);

    const suppression = await fetch(`${stack.mailerUrl}/v1/suppressions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...stack.authHeaders('mailer') },
      body: JSON.stringify({ address: 'a\u0000@example.test' }),
    });
    expect(suppression.status).toBe(400);
    expect(((await suppression.json()) as { error: { fields: unknown } }).error.fields).toEqual([{ path: 'address', message: 'contains a NUL character' }]);
  });

  it('dead-letters Kafka requests carrying them, with the reason, and keeps the partition flowing', async () => {
    const requestsTopic = `${stack.topicPrefix}${Topics.requests.transactional}`;
    const producer = kafka.producer();
    await producer.connect();
    const envelope = '"version":1,"type":"email.requested","emailId":"7b0e4c9e-4a3c-4c53-9a7e-3f1d1b0f0a01","requestedAt":"2026-01-01T00:00:00.000Z","to":["a@example.test"],"text":"x"';
    await producer.send({
      topic: requestsTopic,
      messages: [
        { key: 'nul', value: `{${envelope},"subject":"Hi\\u0000"}` },
        { key: 'surrogate', value: `{${envelope},"subject":"Hi \\ud800"}` },
        { key: 'deep', value: `{${envelope},"subject":"Hi","metadata":${deepJson(10_000)}}` },
      ],
    });
    await producer.disconnect();

    const after = await stack.post('/v1/emails', { to: 'after-poison@example.test', subject: 'Still working', text: 'x' });
    expect(after.status).toBe(202);
    await waitFor(async () => (await stack.get(`/v1/emails/${after.body.id}`)).body.status === 'sent', { description: 'the email after the poison to be sent' });

    const deadLetters = await readAll(kafka, deadLetterTopic(requestsTopic), 3);
    const reasons = Object.fromEntries(deadLetters.map((m) => [m.key, m.headers[DeadLetterHeaders.reason]]));
    expect(reasons.nul).toMatch(/subject: contains a NUL character/);
    expect(reasons.surrogate).toMatch(/subject: contains a lone surrogate/);
    expect(reasons.deep).toMatch(/metadata(\.a)+: is nested more than 32 levels deep/);
  });
});

/** Reads a topic from the beginning until `expected` messages arrived. */
async function readAll(kafka: Kafka, topic: string, expected: number): Promise<{ key: string; headers: Record<string, string> }[]> {
  const consumer = kafka.consumer({ groupId: `e2e-unsafe-reader-${Math.random().toString(36).slice(2)}` });
  const messages: { key: string; headers: Record<string, string> }[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(message.headers ?? {})) if (v !== undefined) headers[k] = v.toString();
        messages.push({ key: message.key?.toString() ?? '', headers });
      },
    });
    await waitFor(() => messages.length >= expected || undefined, { timeoutMs: 30_000, description: `${expected} dead letters` });
    return messages;
  } finally {
    await consumer.disconnect();
  }
}
