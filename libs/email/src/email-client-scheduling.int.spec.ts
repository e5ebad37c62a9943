import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { Clock, IdGenerator, InvalidInputError } from '@app/common';
import { Topics } from '@app/contracts';
import { KafkaTopics } from '@app/kafka';
import { OutboxWriter } from '@app/outbox';
import { createMigratedDatabase, dropMigratedDatabase } from '@app/testing';
import { DEFAULT_EMAIL_SCHEMA, EMAIL_MIGRATIONS, EmailAlreadyFinalError, EmailNotFoundError, type EmailModuleOptions } from './index.js';
import { EmailClient } from './email-client.js';
import { EmailRepository } from './email.repository.js';
import { TemplateRenderer } from './templates/template-renderer.js';
import { TemplatesRepository } from './templates/templates.repository.js';
import { TemplatesService } from './templates/templates.service.js';

/**
 * `sendAt` and `cancel()` of `EmailClient` on real PostgreSQL: a `sendAt` outside its window is
 * refused before anything is written; a cancel is a message on the email's lane topic, behind its
 * request, and refused at once for an email that already ended.
 */
describe('EmailClient: sendAt and cancel() (PostgreSQL)', () => {
  const topicPrefix = 'email-schedule-int.';
  let url: string;
  let dataSource: DataSource;
  let emails: EmailClient;

  const outboxRows = (key: string): Promise<{ topic: string; payload: Record<string, unknown> }[]> =>
    dataSource.query(`SELECT topic, payload FROM email_loop.outbox WHERE message_key = $1 ORDER BY id`, [key]);
  const rowCounts = async (): Promise<{ emails: number; outbox: number }> =>
    (await dataSource.query(`SELECT (SELECT count(*) FROM email_loop.emails)::int AS emails, (SELECT count(*) FROM email_loop.outbox)::int AS outbox`))[0];

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('email_schedule_int', EMAIL_MIGRATIONS));
    const options: EmailModuleOptions & { kafka: { clientId: string } } = {
      appName: 'email-schedule-int',
      databaseUrl: url,
      kafka: { brokers: ['127.0.0.1:9092'], clientId: 'email-schedule-int', topicPrefix },
      maxScheduleAheadMs: 7 * 86_400_000,
    };
    emails = new EmailClient(dataSource, new EmailRepository(), new OutboxWriter({ schema: DEFAULT_EMAIL_SCHEMA }), new KafkaTopics(options.kafka), new IdGenerator(), new Clock(), new TemplatesService(dataSource, new TemplatesRepository(), new TemplateRenderer()), options);
  });

  beforeEach(async () => {
    await dataSource.query(`TRUNCATE email_loop.email_events, email_loop.emails, email_loop.outbox`);
  });

  afterAll(async () => {
    await dropMigratedDatabase(dataSource, url);
  });

  const base = { to: 'ada@example.com', subject: 'Hi', text: 'x' };
  const inMs = (ms: number): string => new Date(Date.now() + ms).toISOString();

  it('queues an email with a sendAt ahead, carrying it in the request message', async () => {
    const sendAt = inMs(3_600_000);
    const { id, status } = await emails.send({ ...base, sendAt });
    expect(status).toBe('queued');
    expect(await outboxRows(id)).toEqual([{ topic: `${topicPrefix}${Topics.requests.transactional}`, payload: expect.objectContaining({ type: 'email.requested', sendAt }) }]);
    // A sendAt a few seconds in the past (a client clock behind ours) is accepted: it is sent at once.
    await expect(emails.send({ ...base, sendAt: inMs(-5_000) })).resolves.toMatchObject({ created: true });
  });

  it.each([
    ['in the past beyond the tolerance', { sendAt: inMs(-120_000) }, 'in the past'],
    ['beyond the horizon', { sendAt: inMs(8 * 86_400_000) }, 'more than 7 days ahead'],
    ['at or after expiresAt', { sendAt: inMs(3_600_000), expiresAt: inMs(1_800_000) }, 'before expiresAt'],
  ])('refuses a sendAt %s with a field error on sendAt, and writes nothing', async (_, patch, message) => {
    const error = await emails.send({ ...base, ...patch }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InvalidInputError);
    expect((error as InvalidInputError).fieldErrors).toEqual([{ path: 'sendAt', message: expect.stringContaining(message) }]);
    expect(await rowCounts()).toEqual({ emails: 0, outbox: 0 });
  });

  it('requests the cancel of an open email on its lane topic, keyed by its id, behind its request; a repeat is harmless', async () => {
    const { id } = await emails.send({ ...base, lane: 'bulk', sendAt: inMs(3_600_000) });
    await dataSource.query(`UPDATE email_loop.emails SET status = 'scheduled' WHERE id = $1`, [id]);

    expect(await emails.cancel(id)).toEqual({ id, status: 'scheduled', cancel: 'requested' });
    expect(await emails.cancel(id)).toEqual({ id, status: 'scheduled', cancel: 'requested' });

    const topic = `${topicPrefix}${Topics.requests.bulk}`;
    const cancel = { topic, payload: { version: 1, type: 'email.cancel_requested', emailId: id, lane: 'bulk', requestedAt: expect.any(String) } };
    expect(await outboxRows(id)).toEqual([{ topic, payload: expect.objectContaining({ type: 'email.requested' }) }, cancel, cancel]);
  });

  it('requests a cancel inside the caller’s transaction: rolled back with it, nothing is published', async () => {
    const { id } = await emails.send(base);
    await dataSource
      .transaction(async (manager) => {
        expect(await emails.cancel(id, { manager })).toMatchObject({ id, cancel: 'requested' });
        throw new Error('the caller’s own work failed');
      })
      .catch(() => undefined);
    expect((await outboxRows(id)).map((r) => r.payload.type)).toEqual(['email.requested']);
  });

  it('refuses to cancel an email that already ended, with its status, and an unknown one; writes nothing', async () => {
    const { id } = await emails.send(base);
    await dataSource.query(`UPDATE email_loop.emails SET status = 'sent' WHERE id = $1`, [id]);

    const error = await emails.cancel(id).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(EmailAlreadyFinalError);
    expect(error).toMatchObject({ code: 'email_already_final', status: 'sent', details: { status: 'sent' } });
    await expect(emails.cancel('7d8c3f0e-3a57-4c4b-9f11-0d3c7a1b2c3d')).rejects.toBeInstanceOf(EmailNotFoundError);
    expect(await outboxRows(id)).toHaveLength(1);
  });
});
