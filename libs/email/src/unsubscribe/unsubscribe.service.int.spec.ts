import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Injectable, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { Test, type TestingModule } from '@nestjs/testing';
import { DataSource } from 'typeorm';
import { Clock, IdGenerator } from '@app/common';
import { suppressionChangedMessageSchema, type EmailRequestedMessage } from '@app/contracts';
import { KafkaTopics } from '@app/kafka';
import { OutboxWriter } from '@app/outbox';
import { createMigratedDatabase, dropMigratedDatabase } from '@app/testing';
import { DEFAULT_EMAIL_SCHEMA, EMAIL_MIGRATIONS, type EmailModuleOptions } from '../index.js';
import { EmailClient } from '../email-client.js';
import { EMAIL_OPTIONS } from '../email.options.js';
import { EmailRepository } from '../email.repository.js';
import { InvalidUnsubscribeLinkError, UnsubscribeLinkExpiredError } from './unsubscribe.errors.js';
import { OnUnsubscribe, UnsubscribeHandlers, type RecipientUnsubscribedEvent, type UnsubscribeContext } from './unsubscribe-handlers.js';
import { UnsubscribeLinks } from './unsubscribe-links.js';
import { UnsubscribeService } from './unsubscribe.service.js';
import { UnsubscribesRepository } from './unsubscribes.repository.js';
import { TemplateRenderer } from '../templates/template-renderer.js';
import { TemplatesRepository } from '../templates/templates.repository.js';
import { TemplatesService } from '../templates/templates.service.js';

const PREFIX = 'https://api.example.test/v1/unsubscribe/';
const SECRET = 'an-unsubscribe-secret-of-32-chars-or-more';
const TOPIC_PREFIX = 'unsub-int.';

/** A host app's hook: records each opt-out in its own table, through the opt-out's transaction. */
@Injectable()
class NewsletterPreferences {
  readonly seen: RecipientUnsubscribedEvent[] = [];
  failNext = false;

  @OnUnsubscribe()
  async optOut(event: RecipientUnsubscribedEvent, { manager }: UnsubscribeContext): Promise<void> {
    this.seen.push(event);
    await manager.query(`INSERT INTO host_opt_outs (address, category) VALUES ($1, $2)`, [event.address, event.category]);
    if (this.failNext) {
      this.failNext = false;
      throw new Error('host hook failed after writing');
    }
  }
}

@Module({ providers: [NewsletterPreferences] })
class HostFeatureModule {}

describe('UnsubscribeService (PostgreSQL)', () => {
  let url: string;
  let dataSource: DataSource;
  let app: TestingModule;
  let service: UnsubscribeService;
  let host: NewsletterPreferences;
  const options: EmailModuleOptions = {
    appName: 'unsub-int',
    databaseUrl: 'postgres://unused/db',
    kafka: { brokers: ['127.0.0.1:9092'], topicPrefix: TOPIC_PREFIX },
    schema: DEFAULT_EMAIL_SCHEMA,
    unsubscribe: { urlPrefix: PREFIX, secret: SECRET },
  };
  const links = new UnsubscribeLinks({ urlPrefix: PREFIX, secret: SECRET });
  const tokenOf = (email: { emailId: string; to: string[]; category?: string }): string => links.urlFor(email).slice(PREFIX.length);

  async function state(): Promise<{ unsubscribes: { address: string; category: string | null; email_id: string }[]; outbox: { topic: string; message_key: string; payload: unknown }[]; host: number }> {
    const unsubscribes = await dataSource.query(`SELECT address, category, email_id FROM email_loop.unsubscribes ORDER BY id`);
    const outbox = await dataSource.query(`SELECT topic, message_key, payload FROM email_loop.outbox ORDER BY id`);
    const [{ n }] = await dataSource.query(`SELECT count(*)::int AS n FROM host_opt_outs`);
    return { unsubscribes, outbox, host: n };
  }

  async function newEmail(to: string[]): Promise<string> {
    const id = randomUUID();
    await new EmailRepository().insert(dataSource.manager, {
      id,
      idempotencyKey: null,
      requestHash: 'h',
      lane: 'bulk',
      recipients: { to, cc: ['boss@example.test'] },
      subject: 's',
      metadata: null,
      expiresAt: null,
    });
    return id;
  }

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('unsubscribe_int', EMAIL_MIGRATIONS));
    await dataSource.query(`CREATE TABLE host_opt_outs (address text NOT NULL, category text)`);
    app = await Test.createTestingModule({
      imports: [DiscoveryModule, HostFeatureModule],
      providers: [
        { provide: DataSource, useValue: dataSource },
        { provide: EMAIL_OPTIONS, useValue: options },
        { provide: OutboxWriter, useValue: new OutboxWriter({ schema: DEFAULT_EMAIL_SCHEMA }) },
        { provide: KafkaTopics, useValue: new KafkaTopics({ brokers: [], clientId: 'x', topicPrefix: TOPIC_PREFIX }) },
        IdGenerator,
        EmailRepository,
        UnsubscribesRepository,
        UnsubscribeHandlers,
        UnsubscribeService,
      ],
    }).compile();
    await app.init();
    service = app.get(UnsubscribeService);
    host = app.get(NewsletterPreferences);
  });

  beforeEach(async () => {
    await dataSource.query(`TRUNCATE email_loop.unsubscribes, email_loop.outbox, email_loop.email_events, email_loop.emails, host_opt_outs`);
    host.seen.length = 0;
  });

  afterAll(async () => {
    await app?.close();
    await dropMigratedDatabase(dataSource, url);
  });

  it('records an opt-out once, with exactly one suppression.added in the outbox, however often the link is posted', async () => {
    const emailId = randomUUID();
    const token = tokenOf({ emailId, to: ['Ada@Example.test'], category: 'newsletter' });

    const first = await service.unsubscribe(token);
    const again = await service.unsubscribe(token);
    const concurrent = await Promise.all([service.unsubscribe(token), service.unsubscribe(token)]);

    expect(first).toMatchObject({ addresses: ['ada@example.test'], category: 'newsletter', recorded: [{ address: 'ada@example.test', emailId }] });
    expect(again).toEqual({ addresses: ['ada@example.test'], category: 'newsletter', recorded: [] });
    expect(concurrent.map((r) => r.recorded)).toEqual([[], []]);
    const { unsubscribes, outbox, host: hostRows } = await state();
    expect(unsubscribes).toEqual([{ address: 'ada@example.test', category: 'newsletter', email_id: emailId }]);
    expect(outbox).toHaveLength(1);
    expect(outbox[0]).toMatchObject({ topic: `${TOPIC_PREFIX}mail.suppressions`, message_key: 'ada@example.test' });
    const fact = suppressionChangedMessageSchema.parse(outbox[0]?.payload);
    expect(fact).toMatchObject({ type: 'suppression.added', address: 'ada@example.test', category: 'newsletter', reason: 'unsubscribed', emailId });
    // The host's hook ran once, in the same transaction, and shares the fact's event id.
    expect(hostRows).toBe(1);
    expect(host.seen).toEqual([{ ...first.recorded[0], eventId: fact.eventId }]);
  });

  it('keeps a category-less opt-out (every category) apart from a per-category one', async () => {
    await service.unsubscribe(tokenOf({ emailId: randomUUID(), to: ['bob@example.test'], category: 'newsletter' }));
    const all = await service.unsubscribe(tokenOf({ emailId: randomUUID(), to: ['bob@example.test'] }));
    expect(all.recorded).toHaveLength(1);
    const { unsubscribes, outbox } = await state();
    expect(unsubscribes.map((u) => u.category)).toEqual(['newsletter', null]);
    expect(suppressionChangedMessageSchema.parse(outbox[1]?.payload).category).toBeUndefined();
  });

  it("applies a link naming no recipient (several `to`) to the email's `to` addresses, not its cc", async () => {
    const emailId = await newEmail(['a@example.test', 'b@example.test']);
    const result = await service.unsubscribe(tokenOf({ emailId, to: ['a@example.test', 'b@example.test'], category: 'digest' }));
    expect(result.addresses).toEqual(['a@example.test', 'b@example.test']);
    const { unsubscribes, outbox } = await state();
    expect(unsubscribes.map((u) => u.address)).toEqual(['a@example.test', 'b@example.test']);
    expect(outbox.map((o) => o.message_key)).toEqual(['a@example.test', 'b@example.test']);
  });

  it('answers a clear error for such a link once the email was deleted, and records nothing', async () => {
    const token = tokenOf({ emailId: randomUUID(), to: ['a@example.test', 'b@example.test'] });
    await expect(service.unsubscribe(token)).rejects.toBeInstanceOf(UnsubscribeLinkExpiredError);
    expect(await state()).toEqual({ unsubscribes: [], outbox: [], host: 0 });
  });

  it('refuses a tampered or foreign token and records nothing', async () => {
    const token = tokenOf({ emailId: randomUUID(), to: ['ada@example.test'] });
    const tampered = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    const foreign = new UnsubscribeLinks({ urlPrefix: PREFIX, secret: 'x'.repeat(32) }).urlFor({ emailId: randomUUID(), to: ['ada@example.test'] }).slice(PREFIX.length);
    for (const bad of [tampered, foreign, 'garbage']) {
      expect(() => service.check(bad)).toThrow(InvalidUnsubscribeLinkError);
      await expect(service.unsubscribe(bad)).rejects.toBeInstanceOf(InvalidUnsubscribeLinkError);
    }
    expect(await state()).toEqual({ unsubscribes: [], outbox: [], host: 0 });
  });

  it('records nothing when a host hook fails, so the retried POST records it then', async () => {
    const token = tokenOf({ emailId: randomUUID(), to: ['eve@example.test'] });
    host.failNext = true;
    await expect(service.unsubscribe(token)).rejects.toThrow('host hook failed');
    expect(await state()).toEqual({ unsubscribes: [], outbox: [], host: 0 });
    expect((await service.unsubscribe(token)).recorded).toHaveLength(1);
    expect((await state()).outbox).toHaveLength(1);
  });
});

describe('EmailClient.send() with unsubscribe links (PostgreSQL)', () => {
  let url: string;
  let dataSource: DataSource;

  beforeAll(async () => {
    ({ url, dataSource } = await createMigratedDatabase('unsubscribe_send_int', EMAIL_MIGRATIONS));
  });

  afterAll(async () => {
    await dropMigratedDatabase(dataSource, url);
  });

  const client = (unsubscribe?: EmailModuleOptions['unsubscribe']): EmailClient => {
    const options: EmailModuleOptions = {
      appName: 'unsub-send',
      databaseUrl: url,
      kafka: { brokers: ['127.0.0.1:9092'], topicPrefix: TOPIC_PREFIX },
      ...(unsubscribe && { unsubscribe }),
    };
    const topics = new KafkaTopics({ brokers: [], clientId: 'x', topicPrefix: TOPIC_PREFIX });
    return new EmailClient(dataSource, new EmailRepository(), new OutboxWriter({ schema: DEFAULT_EMAIL_SCHEMA }), topics, new IdGenerator(), new Clock(), new TemplatesService(dataSource, new TemplatesRepository(), new TemplateRenderer()), options);
  };
  const published = async (emailId: string): Promise<EmailRequestedMessage> => {
    const [row] = await dataSource.query(`SELECT payload FROM email_loop.outbox WHERE message_key = $1`, [emailId]);
    return row.payload;
  };

  it('signs a link for bulk mail only, naming the recipient and category', async () => {
    const emails = client({ urlPrefix: PREFIX, secret: SECRET });
    const bulk = await emails.send({ to: 'ada@example.test', subject: 'News', text: 'x', lane: 'bulk', category: 'newsletter' });
    const transactional = await emails.send({ to: 'ada@example.test', subject: 'Code', text: '123456' });

    const url = (await published(bulk.id)).unsubscribeUrl ?? '';
    expect(url.startsWith(PREFIX)).toBe(true);
    expect(new UnsubscribeLinks({ urlPrefix: PREFIX, secret: SECRET }).verify(url.slice(PREFIX.length))).toEqual({
      emailId: bulk.id,
      address: 'ada@example.test',
      category: 'newsletter',
    });
    expect((await published(transactional.id)).unsubscribeUrl).toBeUndefined();
  });

  it('signs nothing when the module has no unsubscribe options', async () => {
    const bulk = await client().send({ to: 'ada@example.test', subject: 'News', text: 'x', lane: 'bulk' });
    expect((await published(bulk.id)).unsubscribeUrl).toBeUndefined();
  });
});
