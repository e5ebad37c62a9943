import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { Topics, suppressionChangedMessageSchema } from '@app/contracts';
import { TopicReaders, waitFor, type CapturedMail } from '@app/testing';
import { verifyWebhook } from '@app/webhooks';
import { EmailLoopStack, KAFKA_BROKERS, freePort } from './stack.js';

/** Where the links point: the public name of the business app, as a reverse proxy would serve it. */
const UNSUBSCRIBE_BASE_URL = 'https://mail.example.test';

/** A header of a mail as received, unfolded (RFC 5322 §2.2.3), or null. */
function headerOf(mail: CapturedMail, name: string): string | null {
  const head = mail.raw.split(/\r?\n\r?\n/, 1)[0] ?? '';
  const match = new RegExp(`^${name}:[ \\t]*((?:.*)(?:\\r?\\n[ \\t].*)*)`, 'im').exec(head);
  return match?.[1] !== undefined ? match[1].replace(/\r?\n[ \t]+/g, ' ').trim() : null;
}

describe('one-click unsubscribe (RFC 8058), end to end', () => {
  const stack = new EmailLoopStack();
  const kafka = new Kafka({ clientId: 'e2e-unsubscribe', brokers: KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING });
  const readers = new TopicReaders(kafka);
  /** A webhook receiver on loopback: records every request and answers 204. */
  const webhooks: { headers: IncomingHttpHeaders; body: string }[] = [];
  let receiver: Server;
  let receiverUrl = '';

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        webhooks.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(204).end();
      });
    });
    const port = await freePort();
    await new Promise<void>((resolve) => receiver.listen(port, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${port}/hooks`;
    await stack.start({
      businessEnv: {
        UNSUBSCRIBE_BASE_URL,
        UNSUBSCRIBE_SECRET: 'e2e-unsubscribe-secret-0123456789abcdef',
        WEBHOOK_ALLOWED_NETWORKS: '127.0.0.0/8',
      },
    });
  });

  afterEach(async () => {
    await readers.close();
  });

  afterAll(async () => {
    receiver?.closeAllConnections();
    await new Promise((resolve) => receiver?.close(resolve));
    const codes = await stack.stop();
    expect(codes).toEqual({ business: 0, mailer: 0 });
  });

  async function query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
    const client = new pg.Client({ connectionString: stack.businessDatabaseUrl });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end();
    }
  }
  const unsubscribes = (): Promise<{ address: string; category: string | null; email_id: string }[]> =>
    query(`SELECT address, category, email_id FROM email_loop.unsubscribes ORDER BY id`);
  const suppressionFacts = async (): Promise<number> =>
    (await query<{ n: number }>(`SELECT count(*)::int AS n FROM email_loop.outbox WHERE topic = $1`, [`${stack.topicPrefix}${Topics.suppressions}`]))[0]?.n ?? -1;

  /** The link's path on the business app: the test reaches it directly, not through the public name. */
  const onBusiness = (url: string): string => `${stack.businessUrl}${new URL(url).pathname}`;

  async function sentMail(body: Record<string, unknown>): Promise<CapturedMail> {
    const res = await stack.post('/v1/emails', body);
    expect(res.status).toBe(202);
    const id: string = res.body.id;
    return waitFor(() => stack.smtp.mails.find((m) => m.emailId === id), { timeoutMs: 30_000, description: `email ${id} at the SMTP server` });
  }

  it('puts a signed one-click link in bulk mail, and a POST to it records the opt-out once and tells the mailer', async () => {
    const bulk = await sentMail({ to: 'Ada@Example.test', subject: 'November news', text: 'Hello', lane: 'bulk', category: 'newsletter' });
    const transactional = await sentMail({ to: 'ada@example.test', subject: 'Your code', text: '123456' });

    // The mail as received: both RFC 8058 headers on the newsletter, none on the login code.
    expect(headerOf(bulk, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click');
    const listUnsubscribe = headerOf(bulk, 'List-Unsubscribe') ?? '';
    expect(listUnsubscribe).toMatch(new RegExp(`^<${UNSUBSCRIBE_BASE_URL}/v1/unsubscribe/[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]{43}>$`));
    expect(headerOf(transactional, 'List-Unsubscribe')).toBeNull();
    expect(headerOf(transactional, 'List-Unsubscribe-Post')).toBeNull();
    const link = listUnsubscribe.slice(1, -1);

    // Opening the link shows a confirmation page and records nothing (link scanners follow GETs).
    const page = await fetch(onBusiness(link));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toMatch(/<form method="post">[\s\S]*<button type="submit">Unsubscribe<\/button>/);
    expect(await unsubscribes()).toEqual([]);

    // The host's systems hear of it through a webhook.
    const endpoint = await stack.post('/v1/webhooks', { url: receiverUrl, events: ['recipient.unsubscribed'] });
    expect(endpoint.status).toBe(201);

    // What a mailbox provider sends (RFC 8058 §3.2), twice: a retry must change nothing.
    const oneClick = (): Promise<Response> =>
      fetch(onBusiness(link), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'List-Unsubscribe=One-Click',
        redirect: 'manual',
      });
    const first = await oneClick();
    const again = await oneClick();
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ status: 'unsubscribed', category: 'newsletter' });
    expect(again.status).toBe(200);

    expect(await unsubscribes()).toEqual([{ address: 'ada@example.test', category: 'newsletter', email_id: bulk.emailId }]);
    expect(await suppressionFacts()).toBe(1);
    const [published] = await readers.readAll(`${stack.topicPrefix}${Topics.suppressions}`, 1, 'the suppression fact on mail.suppressions');
    expect(suppressionChangedMessageSchema.parse(JSON.parse(published?.value ?? ''))).toMatchObject({
      type: 'suppression.added',
      address: 'ada@example.test',
      category: 'newsletter',
      reason: 'unsubscribed',
      emailId: bulk.emailId,
    });

    const [delivery] = await waitFor(() => (webhooks.length > 0 ? webhooks : undefined), { timeoutMs: 20_000, description: 'the recipient.unsubscribed webhook' });
    const event = verifyWebhook(delivery?.body ?? '', delivery?.headers ?? {}, endpoint.body.secret);
    expect(event).toMatchObject({
      type: 'recipient.unsubscribed',
      data: { emailId: bulk.emailId, status: 'unsubscribed', address: 'ada@example.test', category: 'newsletter', eventId: JSON.parse(published?.value ?? '').eventId },
    });

    // A browser that posts the page's form gets a page back.
    const confirmed = await fetch(onBusiness(link), { method: 'POST', headers: { accept: 'text/html' } });
    expect(confirmed.status).toBe(200);
    expect(await confirmed.text()).toContain('You are unsubscribed');
    expect(await suppressionFacts()).toBe(1);
    expect(webhooks).toHaveLength(1);
  });

  it('refuses a tampered or forged link with 404 and records nothing', async () => {
    const bulk = await sentMail({ to: 'bob@example.test', subject: 'Digest', text: 'Hello', lane: 'bulk' });
    const link = (headerOf(bulk, 'List-Unsubscribe') ?? '').slice(1, -1);
    const token = link.slice(link.lastIndexOf('/') + 1);
    const [payload, signature] = token.split('.') as [string, string];
    const forgedPayload = Buffer.from(JSON.stringify({ e: bulk.emailId, a: 'victim@example.test' })).toString('base64url');
    const before = { unsubscribes: await unsubscribes(), facts: await suppressionFacts() };

    for (const bad of [`${payload}x.${signature}`, `${forgedPayload}.${signature}`, 'not-a-token']) {
      const res = await fetch(`${stack.businessUrl}/v1/unsubscribe/${bad}`, { method: 'POST', body: 'List-Unsubscribe=One-Click' });
      expect(res.status, bad).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unsubscribe_link_invalid');
      const page = await fetch(`${stack.businessUrl}/v1/unsubscribe/${bad}`);
      expect(page.status).toBe(404);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await page.text()).toContain('This unsubscribe link is not valid');
    }
    expect({ unsubscribes: await unsubscribes(), facts: await suppressionFacts() }).toEqual(before);
  });
});
