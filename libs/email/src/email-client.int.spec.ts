import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DataSource } from 'typeorm';
import { Kafka, logLevel } from 'kafkajs';
import { Clock, IdGenerator } from '@app/common';
import { CONTRACT_VERSION, Topics } from '@app/contracts';
import { KafkaClient, KafkaProducer, KafkaTopics } from '@app/kafka';
import { KafkaOutboxPublisher, OutboxRelay, OutboxStatsReader, OutboxWriter } from '@app/outbox';
import { createMigratedDatabase, dropMigratedDatabase, statementLoggingDataSource } from '@app/testing';
import {
  DEFAULT_EMAIL_SCHEMA,
  EMAIL_MIGRATIONS,
  EmailTooLargeError,
  EmailTransactionRequiredError,
  TemplateDataError,
  UnknownTemplateError,
  type EmailModuleOptions,
} from './index.js';
import { EmailClient } from './email-client.js';
import { EmailRepository } from './email.repository.js';
import { kafkaRecordSize } from './request-size.js';
import { TemplateRenderer } from './templates/template-renderer.js';
import { TemplatesRepository } from './templates/templates.repository.js';
import { TemplatesService } from './templates/templates.service.js';

const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const templatesOf = (dataSource: DataSource): TemplatesService => new TemplatesService(dataSource, new TemplatesRepository(), new TemplateRenderer());

/**
 * `EmailClient.send()` against real PostgreSQL (and the real broker for the size limit): what it
 * refuses, it refuses before writing anything.
 */
describe('EmailClient.send() (PostgreSQL, Kafka)', () => {
  const topicPrefix = `email-int-${Date.now().toString(36)}.`;
  let url: string;
  let dataSource: DataSource;

  const options = (maxMessageBytes?: number): EmailModuleOptions & { kafka: { clientId: string } } => ({
    appName: 'email-int',
    databaseUrl: url,
    kafka: { brokers: BROKERS, clientId: 'email-int', topicPrefix },
    ...(maxMessageBytes !== undefined && { maxMessageBytes }),
  });
  const emailClient = (maxMessageBytes?: number): EmailClient => {
    const opts = options(maxMessageBytes);
    return new EmailClient(dataSource, new EmailRepository(), new OutboxWriter({ schema: DEFAULT_EMAIL_SCHEMA }), new KafkaTopics(opts.kafka), new IdGenerator(), new Clock(), templatesOf(dataSource), opts);
  };

  async function rowCounts(): Promise<{ emails: number; outbox: number }> {
    const [row] = await dataSource.query(
      `SELECT (SELECT count(*) FROM email_loop.emails)::int AS emails, (SELECT count(*) FROM email_loop.outbox)::int AS outbox`,
    );
    return row;
  }

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('email_int', EMAIL_MIGRATIONS));
  });

  beforeEach(async () => {
    await dataSource.query(`TRUNCATE email_loop.email_events, email_loop.emails, email_loop.outbox, email_loop.email_templates`);
  });

  afterAll(async () => {
    await dropMigratedDatabase(dataSource, url);
  });

  describe('message size', () => {
    // '€' is one character and three bytes in UTF-8: 200,000 of them are under the 256 KiB
    // character limit of `text` and about 600 kB once encoded.
    const bigText = '€'.repeat(200_000);

    it('refuses an email whose Kafka message would exceed maxMessageBytes, and writes nothing', async () => {
      const emails = emailClient(300_000);
      const request = { to: 'big@example.test', subject: 'Big', text: bigText };

      const error = await emails.send(request, { idempotencyKey: 'big-1' }).then(
        (result) => result,
        (e: unknown) => e,
      );
      expect(await rowCounts()).toEqual({ emails: 0, outbox: 0 });
      expect(error).toBeInstanceOf(EmailTooLargeError);
      const tooLarge = error as EmailTooLargeError;
      expect(tooLarge).toMatchObject({ code: 'email_too_large', retriable: false, maxBytes: 300_000 });
      expect(tooLarge.sizeBytes).toBeGreaterThan(600_000);
      expect(tooLarge.fieldErrors).toHaveLength(1);
      expect(tooLarge.fieldErrors[0]?.message).toContain(String(tooLarge.sizeBytes));
      expect(tooLarge.fieldErrors[0]?.message).toContain('300000');

      // Inside the caller's transaction too, and the transaction stays usable (nothing failed in it).
      await dataSource.transaction(async (manager) => {
        await expect(emails.send(request, { manager, idempotencyKey: 'big-1' })).rejects.toBeInstanceOf(EmailTooLargeError);
        await manager.query('SELECT 1');
      });
      expect(await rowCounts()).toEqual({ emails: 0, outbox: 0 });

      // The idempotency key was not used up.
      const small = await emails.send({ to: 'big@example.test', subject: 'Smaller', text: 'x' }, { idempotencyKey: 'big-1' });
      expect(small.created).toBe(true);
      expect(await rowCounts()).toEqual({ emails: 1, outbox: 1 });
    });

    it('by default refuses an email under every character limit that is over 1 MB as UTF-8 JSON', async () => {
      const request = { to: 'huge@example.test', subject: 'Huge', text: bigText, html: `<p>${bigText}</p>` };
      await expect(emailClient().send(request)).rejects.toMatchObject({ code: 'email_too_large', maxBytes: 1_000_000 });
      expect(await rowCounts()).toEqual({ emails: 0, outbox: 0 });
    });

    it('accepts a multibyte email under the limit, and by default one of 600 kB', async () => {
      const under = await emailClient(300_000).send({ to: 'under@example.test', subject: 'Under', text: '€'.repeat(90_000) });
      expect(under).toMatchObject({ status: 'queued', created: true });
      const byDefault = await emailClient().send({ to: 'default@example.test', subject: 'Default', text: bigText });
      expect(byDefault).toMatchObject({ status: 'queued', created: true });
      expect(await rowCounts()).toEqual({ emails: 2, outbox: 2 });
    });

    it('measures as the broker does: an email at the limit is published to a topic whose max.message.bytes is the limit', async () => {
      const limit = 300_000;
      const topic = `${topicPrefix}${Topics.requests.transactional}`;
      const kafka = new Kafka({ clientId: 'email-int', brokers: BROKERS, logLevel: logLevel.NOTHING });
      const admin = kafka.admin();
      await admin.connect();
      try {
        await admin.createTopics({
          topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'max.message.bytes', value: String(limit) }] }],
          waitForLeaders: true,
        });
      } finally {
        await admin.disconnect();
      }
      // The most '€' that fit: the record is within 3 bytes of the limit (ids and timestamps have fixed lengths).
      const request = (chars: number) => ({ to: 'edge@example.test', subject: 'Edge', text: '€'.repeat(chars) });
      const sizeOf = (chars: number): number =>
        kafkaRecordSize({
          version: CONTRACT_VERSION,
          type: 'email.requested',
          emailId: randomUUID(),
          requestedAt: new Date().toISOString(),
          lane: 'transactional',
          ...request(chars),
          to: ['edge@example.test'],
        });
      const chars = Math.floor((limit - sizeOf(0)) / 3);
      expect(limit - sizeOf(chars)).toBeLessThan(3);

      const emails = emailClient(limit);
      await expect(emails.send(request(chars + 1))).rejects.toBeInstanceOf(EmailTooLargeError);
      await emails.send(request(chars));

      const producer = new KafkaProducer(new KafkaClient(options().kafka));
      try {
        const relay = new OutboxRelay(dataSource, new KafkaOutboxPublisher(producer), { schema: DEFAULT_EMAIL_SCHEMA });
        expect(await relay.publishBatch()).toBe(1);
      } finally {
        await producer.onApplicationShutdown();
      }
      expect(await new OutboxStatsReader(dataSource, { schema: DEFAULT_EMAIL_SCHEMA }).read()).toMatchObject({ pending: 0, deadLettered: 0 });
    });
  });

  describe('statements', () => {
    it('queues an email with one statement and no transaction, the email and its outbox row together; a repeated key writes neither', async () => {
      const { dataSource: counted, statements } = await statementLoggingDataSource(url);
      try {
        const opts = options();
        const emails = new EmailClient(counted, new EmailRepository(), new OutboxWriter({ schema: DEFAULT_EMAIL_SCHEMA }), new KafkaTopics(opts.kafka), new IdGenerator(), new Clock(), templatesOf(counted), opts);
        const request = { to: 'one@example.test', subject: 'One statement', text: 'x' };
        const sent = await emails.send(request, { idempotencyKey: 'one-statement' });
        expect(sent).toMatchObject({ status: 'queued', created: true });
        expect(statements).toHaveLength(1);
        expect(await rowCounts()).toEqual({ emails: 1, outbox: 1 });

        statements.length = 0;
        expect(await emails.send(request, { idempotencyKey: 'one-statement' })).toEqual({ ...sent, created: false });
        expect(statements).toHaveLength(2); // the insert that found the key taken, then the lookup of the first email
        expect(await rowCounts()).toEqual({ emails: 1, outbox: 1 });
      } finally {
        await counted.destroy();
      }
    });
  });

  describe('the caller\'s manager', () => {
    const request = { to: 'tx@example.test', subject: 'Receipt', text: 'Thanks' };

    it('refuses a manager that is not in a transaction, writes nothing, and leaves the key free', async () => {
      const emails = emailClient();
      const error = await emails.send(request, { manager: dataSource.manager, idempotencyKey: 'no-tx-1' }).then(
        (result) => result,
        (e: unknown) => e,
      );
      expect(await rowCounts()).toEqual({ emails: 0, outbox: 0 });
      expect(error).toBeInstanceOf(EmailTransactionRequiredError);
      expect(error).toMatchObject({ code: 'email_transaction_required', retriable: false });
      expect((error as Error).message).toMatch(/pass the EntityManager of your transaction.*or omit `manager`/);

      // A query runner of its own that never started a transaction auto-commits just the same.
      const runner = dataSource.createQueryRunner();
      try {
        await expect(emails.send(request, { manager: runner.manager, idempotencyKey: 'no-tx-1' })).rejects.toBeInstanceOf(
          EmailTransactionRequiredError,
        );
      } finally {
        await runner.release();
      }
      expect(await rowCounts()).toEqual({ emails: 0, outbox: 0 });

      const sent = await dataSource.transaction((manager) => emails.send(request, { manager, idempotencyKey: 'no-tx-1' }));
      expect(sent).toMatchObject({ status: 'queued', created: true });
      expect(await rowCounts()).toEqual({ emails: 1, outbox: 1 });
    });
  });

  describe('templates', () => {
    const welcome = {
      name: 'welcome',
      subject: 'Welcome, {{name}}',
      html: '<p>Hello <b>{{name}}</b></p>',
      variables: [{ name: 'name' }],
      ttlSeconds: 3600,
    };
    const outboxPayload = async (): Promise<Record<string, unknown>> => {
      const [row] = await dataSource.query(`SELECT payload FROM email_loop.outbox`);
      return row.payload;
    };

    it('renders the template before writing: the message carries the content and { name, version }, the TTL becomes expiresAt', async () => {
      const templates = templatesOf(dataSource);
      await templates.create(welcome);
      await templates.create({ ...welcome, subject: 'Hi again, {{name}}' });
      const emails = emailClient();
      const before = Date.now();
      const { id } = await emails.send({ to: 'ada@example.test', template: 'welcome', data: { name: 'Ada <3' } });
      const payload = await outboxPayload();
      expect(payload).toMatchObject({
        subject: 'Hi again, Ada <3',
        html: '<p>Hello <b>Ada &lt;3</b></p>',
        text: 'Hello Ada <3',
        template: { name: 'welcome', version: 2 },
      });
      expect(payload).not.toHaveProperty('data');
      const expiresAt = Date.parse(payload.expiresAt as string);
      expect(expiresAt).toBeGreaterThanOrEqual(before + 3_600_000 - 1_000);
      expect(expiresAt).toBeLessThanOrEqual(Date.now() + 3_600_000);
      expect(await emails.get(id)).toMatchObject({ subject: 'Hi again, Ada <3', template: { name: 'welcome', version: 2 } });

      await dataSource.query(`TRUNCATE email_loop.outbox`);
      const explicitExpiry = '2030-01-01T00:00:00.000Z';
      await emails.send({ to: 'ada@example.test', template: 'welcome', version: 1, data: { name: 'Ada' }, expiresAt: explicitExpiry });
      expect(await outboxPayload()).toMatchObject({ subject: 'Welcome, Ada', template: { name: 'welcome', version: 1 }, expiresAt: explicitExpiry });
    });

    it('refuses an unknown template or version and a missing variable before writing anything', async () => {
      await templatesOf(dataSource).create(welcome);
      const emails = emailClient();
      const refusal = (request: Parameters<EmailClient['send']>[0]) => emails.send(request, { idempotencyKey: 'tpl-1' }).catch((e: unknown) => e);

      const unknown = await refusal({ to: 'a@example.test', template: 'nope', data: {} });
      expect(unknown).toBeInstanceOf(UnknownTemplateError);
      expect(unknown).toMatchObject({ code: 'template_not_found', fieldErrors: [{ path: 'template' }] });
      expect(await refusal({ to: 'a@example.test', template: 'welcome', version: 9, data: { name: 'x' } })).toMatchObject({
        code: 'template_not_found',
        fieldErrors: [{ path: 'version' }],
      });
      const missing = await refusal({ to: 'a@example.test', template: 'welcome', data: {} });
      expect(missing).toBeInstanceOf(TemplateDataError);
      expect(missing).toMatchObject({ fieldErrors: [{ path: 'data.name', message: 'is required by the template' }] });
      expect(await rowCounts()).toEqual({ emails: 0, outbox: 0 });

      // The refused requests left the key free.
      expect(await emails.send({ to: 'a@example.test', template: 'welcome', data: { name: 'x' } }, { idempotencyKey: 'tpl-1' })).toMatchObject({ created: true });
    });

    it('costs one indexed lookup more than literal content for the latest version, and nothing more for a pinned version once compiled', async () => {
      const { dataSource: counted, statements } = await statementLoggingDataSource(url);
      try {
        const opts = options();
        const templates = templatesOf(counted);
        await templates.create(welcome);
        const emails = new EmailClient(counted, new EmailRepository(), new OutboxWriter({ schema: DEFAULT_EMAIL_SCHEMA }), new KafkaTopics(opts.kafka), new IdGenerator(), new Clock(), templates, opts);
        const request = { to: 'count@example.test', template: 'welcome', data: { name: 'Ada' } };
        await emails.send(request); // the first send loads and compiles version 1
        statements.length = 0;
        await emails.send(request);
        expect(statements).toHaveLength(2); // the latest version's number, then the email with its outbox row
        expect(statements[0]).toMatch(/SELECT version FROM/);
        statements.length = 0;
        await emails.send({ ...request, version: 1 });
        expect(statements).toHaveLength(1);
      } finally {
        await counted.destroy();
      }
    });

    it('keys idempotency on the request as given: the same template and data again is the same email, other data a conflict', async () => {
      await templatesOf(dataSource).create(welcome);
      const emails = emailClient();
      const request = { to: 'a@example.test', template: 'welcome', data: { name: 'Ada' } };
      const first = await emails.send(request, { idempotencyKey: 'tpl-key' });
      expect(await emails.send(request, { idempotencyKey: 'tpl-key' })).toEqual({ ...first, created: false });
      await expect(emails.send({ ...request, data: { name: 'Bob' } }, { idempotencyKey: 'tpl-key' })).rejects.toMatchObject({
        code: 'idempotency_key_conflict',
      });
    });
  });
});
