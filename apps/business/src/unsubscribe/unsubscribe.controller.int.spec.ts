import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { ApiExceptionFilter } from '@app/common';
import { EMAIL_MIGRATIONS, EmailClient, EmailModule } from '@app/email';
import { createMigratedDatabase, dropMigratedDatabase } from '@app/testing';
import { UnsubscribeController } from './unsubscribe.controller.js';

const PREFIX = 'https://api.example.test/v1/unsubscribe/';
const SECRET = 'an-unsubscribe-secret-of-32-chars-or-more';
const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

describe('POST/GET /v1/unsubscribe/:token (HTTP, PostgreSQL, EmailModule)', () => {
  let url: string;
  let dataSource: DataSource;
  let app: NestExpressApplication;
  let base: string;
  /** The link the module signs into a bulk email to `to`, as a path on this app. */
  async function pathOf(to: string, category?: string): Promise<string> {
    const { id } = await app.get(EmailClient).send({ to, subject: 'News', text: 'x', lane: 'bulk', ...(category && { category }) });
    const [row] = await dataSource.query(`SELECT payload->>'unsubscribeUrl' AS url FROM email_loop.outbox WHERE message_key = $1`, [id]);
    return new URL(row.url as string).pathname;
  }

  const counts = async (): Promise<{ unsubscribes: number; outbox: number }> =>
    (
      await dataSource.query(
        `SELECT (SELECT count(*) FROM email_loop.unsubscribes)::int AS unsubscribes, (SELECT count(*) FROM email_loop.outbox)::int AS outbox`,
      )
    )[0];

  /** What a mailbox provider sends on a one-click unsubscribe (RFC 8058 §3.2). */
  const oneClick = (path: string): Promise<Response> =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
      redirect: 'manual',
    });

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('unsubscribe_http_int', EMAIL_MIGRATIONS));
    // The module as the business app registers it, minus the Kafka consumer and relay: this test is about the HTTP edge.
    const moduleRef = await Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({ type: 'postgres', url }),
        EmailModule.forRoot({
          appName: 'unsubscribe-http',
          databaseUrl: url,
          kafka: { brokers: BROKERS, topicPrefix: `unsubscribe-http-${randomUUID()}.` },
          runRelay: false,
          consumeEvents: false,
          unsubscribe: { urlPrefix: PREFIX, secret: SECRET },
        }),
      ],
      controllers: [UnsubscribeController],
    }).compile();
    // As main.ts configures the business app.
    app = moduleRef.createNestApplication<NestExpressApplication>({ bodyParser: false });
    app.useBodyParser('json', { limit: '1mb' });
    app.useGlobalFilters(new ApiExceptionFilter());
    await app.listen(0, '127.0.0.1');
    base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });

  beforeEach(async () => {
    await dataSource.query(`TRUNCATE email_loop.unsubscribes, email_loop.outbox, email_loop.email_events, email_loop.emails`);
  });

  afterAll(async () => {
    await app?.close();
    await dropMigratedDatabase(dataSource, url);
  });

  it('answers 200 to a repeated one-click POST and records once, with exactly one outbox row', async () => {
    const path = await pathOf('ada@example.test', 'newsletter');
    const before = await counts(); // the email's own outbox row
    const responses = [await oneClick(path), await oneClick(path), await oneClick(path)];
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(await responses[0]?.json()).toEqual({ status: 'unsubscribed', category: 'newsletter' });
    expect(await counts()).toEqual({ unsubscribes: 1, outbox: before.outbox + 1 });
  });

  it('shows a confirmation page on GET and records nothing', async () => {
    const path = await pathOf('ada@example.test');
    const before = await counts();
    const res = await fetch(`${base}${path}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(await res.text()).toContain('<form method="post">');
    expect(await counts()).toEqual(before);
  });

  it('refuses a tampered token with 404 and a clear code, and records nothing', async () => {
    const path = await pathOf('ada@example.test');
    const before = await counts();
    const tampered = `${path.slice(0, -1)}${path.endsWith('A') ? 'B' : 'A'}`;
    const res = await oneClick(tampered);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: 'unsubscribe_link_invalid', message: expect.stringContaining('not valid') } });
    expect(await counts()).toEqual(before);

    // A browser (the confirmation page's form) gets a page instead.
    const page = await fetch(`${base}${tampered}`, { method: 'POST', headers: { accept: 'text/html' } });
    expect(page.status).toBe(404);
    expect(await page.text()).toContain('This unsubscribe link is not valid');
    expect(await counts()).toEqual(before);
  });
});
