import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { Clock, IdGenerator, InvalidInputError } from '@app/common';
import { KafkaTopics } from '@app/kafka';
import { OutboxWriter } from '@app/outbox';
import { createMigratedDatabase, dropMigratedDatabase } from '@app/testing';
import { DEFAULT_EMAIL_SCHEMA, EMAIL_MIGRATIONS, type EmailModuleOptions, type EmailRequestInput } from './index.js';
import { EmailClient } from './email-client.js';
import { EmailRepository } from './email.repository.js';
import { TemplateRenderer } from './templates/template-renderer.js';
import { TemplatesRepository } from './templates/templates.repository.js';
import { TemplatesService } from './templates/templates.service.js';

const deep = (levels: number): unknown => {
  let value: unknown = 'x';
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
};

/**
 * `EmailClient.send()` on real PostgreSQL with values PostgreSQL or our own code cannot take: each
 * is an `InvalidInputError` at its field (the API's 400), and nothing is written.
 */
describe('EmailClient.send() refuses unsafe input at the field (PostgreSQL)', () => {
  let url: string;
  let dataSource: DataSource;
  let emails: EmailClient;
  let templates: TemplatesService;
  const renderer = new TemplateRenderer();

  const rowCounts = async (): Promise<{ emails: number; outbox: number }> =>
    (await dataSource.query(`SELECT (SELECT count(*) FROM email_loop.emails)::int AS emails, (SELECT count(*) FROM email_loop.outbox)::int AS outbox`))[0];

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('email_unsafe_int', EMAIL_MIGRATIONS));
    const kafka = { brokers: ['127.0.0.1:9092'], clientId: 'email-unsafe-int', topicPrefix: 'email-unsafe-int.' };
    const options: EmailModuleOptions = { appName: 'email-unsafe-int', databaseUrl: url, kafka };
    templates = new TemplatesService(dataSource, new TemplatesRepository(), renderer);
    emails = new EmailClient(dataSource, new EmailRepository(), new OutboxWriter({ schema: DEFAULT_EMAIL_SCHEMA }), new KafkaTopics(kafka), new IdGenerator(), new Clock(), templates, options);
    await templates.create({ name: 'hello', subject: 'Hello', html: '<p>{{name}}</p>', variables: [{ name: 'name' }] });
  });

  afterAll(async () => {
    await renderer.onApplicationShutdown();
    await dropMigratedDatabase(dataSource, url);
  });

  const base = { to: 'ada@example.test', subject: 'Hi', text: 'hello' };
  const cases: [string, Record<string, unknown>, string, string][] = [
    ['NUL in subject', { ...base, subject: 'Hi\u0000' }, 'subject', 'contains a NUL character'],
    ['NUL in text', { ...base, text: 'a\u0000b' }, 'text', 'contains a NUL character'],
    ['NUL in html', { ...base, html: '<p>\u0000</p>' }, 'html', 'contains a NUL character'],
    ['NUL in metadata', { ...base, metadata: { order: 'x\u0000' } }, 'metadata.order', 'contains a NUL character'],
    ['a lone surrogate in subject', { ...base, subject: 'Hi \uD83D' }, 'subject', 'contains a lone surrogate (not valid Unicode)'],
    ['a lone surrogate in a metadata key', { ...base, metadata: { '\uDC00': 'x' } }, 'metadata.\uFFFD', 'is a key that contains a lone surrogate (not valid Unicode)'],
    ['10,000-deep metadata', { ...base, metadata: deep(10_000) }, `metadata.${Array(31).fill('a').join('.')}`, 'is nested more than 32 levels deep'],
    ['10,000-deep template data', { to: 'ada@example.test', template: 'hello', data: { name: 'Ada', extra: deep(10_000) } }, `data.extra.${Array(30).fill('a').join('.')}`, 'is nested more than 32 levels deep'],
    ['__proto__ in metadata', { ...base, metadata: JSON.parse('{"__proto__":{"isAdmin":"1"}}') }, 'metadata.__proto__', 'is a reserved key (__proto__)'],
  ];

  it.each(cases)('%s', async (_name, request, path, message) => {
    const error = await emails.send(request as EmailRequestInput).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).fieldErrors).toEqual([{ path, message }]);
    expect(await rowCounts()).toEqual({ emails: 0, outbox: 0 });
  });

  it('still sends well-formed Unicode, astral characters included', async () => {
    await emails.send({ ...base, subject: 'Hi 👋', metadata: { note: 'Ådå 🚀' } });
    expect(await rowCounts()).toEqual({ emails: 1, outbox: 1 });
  });
});
