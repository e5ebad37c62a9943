import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { Clock, IdGenerator, InvalidInputError } from '@app/common';
import { KafkaTopics } from '@app/kafka';
import { OutboxWriter } from '@app/outbox';
import { createMigratedDatabase, dropMigratedDatabase } from '@app/testing';
import { DEFAULT_EMAIL_SCHEMA, EMAIL_MIGRATIONS, EmailTooLargeError, type EmailModuleOptions } from './index.js';
import { EmailClient } from './email-client.js';
import { EmailRepository } from './email.repository.js';
import { TemplateRenderer } from './templates/template-renderer.js';
import { TemplatesRepository } from './templates/templates.repository.js';
import { TemplatesService } from './templates/templates.service.js';

/**
 * `EmailClient.send()` with a request's content fields on real PostgreSQL: the deployment's
 * sender domains and attachment limit are enforced before anything is written, and what passes
 * reaches the outbox as the Kafka message the mailer will read.
 */
describe('EmailClient.send() content: from, attachments, headers (PostgreSQL)', () => {
  let url: string;
  let dataSource: DataSource;

  const emailClient = (options: Partial<EmailModuleOptions> = {}): EmailClient => {
    const kafka = { brokers: ['127.0.0.1:9092'], clientId: 'email-content-int', topicPrefix: 'email-content-int.' };
    const opts: EmailModuleOptions = { appName: 'email-content-int', databaseUrl: url, kafka, ...options };
    return new EmailClient(dataSource, new EmailRepository(), new OutboxWriter({ schema: DEFAULT_EMAIL_SCHEMA }), new KafkaTopics(kafka), new IdGenerator(), new Clock(), new TemplatesService(dataSource, new TemplatesRepository(), new TemplateRenderer()), opts);
  };
  const file = (name: string, bytes: Buffer) => ({ filename: name, contentType: 'application/octet-stream', content: bytes.toString('base64') });
  const rowCounts = async (): Promise<{ emails: number; outbox: number }> =>
    (await dataSource.query(`SELECT (SELECT count(*) FROM email_loop.emails)::int AS emails, (SELECT count(*) FROM email_loop.outbox)::int AS outbox`))[0];

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('email_content_int', EMAIL_MIGRATIONS));
  });

  beforeEach(async () => {
    await dataSource.query(`TRUNCATE email_loop.email_events, email_loop.emails, email_loop.outbox`);
  });

  afterAll(async () => {
    await dropMigratedDatabase(dataSource, url);
  });

  it('puts from, attachments and headers into the Kafka message as the mailer reads them', async () => {
    const pdf = Buffer.from('%PDF-1.7 invoice');
    const { id } = await emailClient({ senderDomains: ['Shop.Example'] }).send({
      to: 'ada@example.test',
      from: '"Shop" <news@shop.example>',
      subject: 'Invoice',
      text: 'attached',
      attachments: [{ filename: 'invoice.pdf', contentType: 'application/pdf', content: pdf.toString('base64') }],
      headers: { 'X-Campaign': 'autumn' },
    });

    const [row] = await dataSource.query(`SELECT payload FROM email_loop.outbox WHERE message_key = $1`, [id]);
    expect(row.payload).toMatchObject({
      from: { name: 'Shop', address: 'news@shop.example' },
      attachments: [{ filename: 'invoice.pdf', contentType: 'application/pdf', content: pdf.toString('base64') }],
      headers: { 'X-Campaign': 'autumn' },
    });
  });

  it('refuses a from outside the sender domains and attachments over the limit, naming both, and writes nothing', async () => {
    const emails = emailClient({ senderDomains: ['shop.example'], maxAttachmentBytes: 1_000 });

    const error = await emails
      .send({ to: 'ada@example.test', from: 'ceo@attacker.example', subject: 'Hi', text: 'x', attachments: [file('a.bin', Buffer.alloc(600)), file('b.bin', Buffer.alloc(600))] })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).fieldErrors).toEqual([
      { path: 'from', message: expect.stringContaining('shop.example') },
      { path: 'attachments', message: '1200 bytes in all, more than the limit of 1000 bytes' },
    ]);
    expect(await rowCounts()).toEqual({ emails: 0, outbox: 0 });
  });

  it('without sender domains refuses every from', async () => {
    await expect(emailClient().send({ to: 'ada@example.test', from: 'news@shop.example', subject: 'Hi', text: 'x' })).rejects.toMatchObject({
      fieldErrors: [{ path: 'from', message: expect.stringContaining('no sender domains are configured') }],
    });
    expect(await rowCounts()).toEqual({ emails: 0, outbox: 0 });
  });

  it('leaves the last word to the Kafka message size: attachments within their limit can still be too large (413)', async () => {
    const emails = emailClient({ maxAttachmentBytes: 2_000_000, maxMessageBytes: 100_000 });
    await expect(emails.send({ to: 'ada@example.test', subject: 'Hi', text: 'x', attachments: [file('big.bin', Buffer.alloc(90_000))] })).rejects.toBeInstanceOf(
      EmailTooLargeError,
    );
    expect(await rowCounts()).toEqual({ emails: 0, outbox: 0 });
  });
});
