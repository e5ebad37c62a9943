import { describe, expect, it } from 'vitest';
import { DEFAULT_EMAIL_RETENTION, resolveEmailModuleOptions, resolveEmailRetentionOptions } from './email.options.js';

const DAY = 86_400_000;

describe('resolveEmailRetentionOptions', () => {
  it('keeps emails 90 days and the inbox 14 days by default', () => {
    expect(resolveEmailRetentionOptions()).toEqual(DEFAULT_EMAIL_RETENTION);
    expect(DEFAULT_EMAIL_RETENTION).toMatchObject({ emailsMs: 90 * DAY, inboxMs: 14 * DAY });
  });

  it('accepts 0 as "keep forever"', () => {
    expect(resolveEmailRetentionOptions({ emailsMs: 0, inboxMs: 0 })).toMatchObject({ emailsMs: 0, inboxMs: 0 });
  });

  it.each([['inboxMs'], ['emailsMs']])('refuses a %s shorter than Kafka can still redeliver a message', (name) => {
    expect(() => resolveEmailRetentionOptions({ [name]: 7 * DAY })).toThrow(new RegExp(`${name} must be 0 \\(keep forever\\) or at least 14 days`));
    expect(() => resolveEmailRetentionOptions({ [name]: -1 })).toThrow(name);
  });

  it('refuses a non-positive interval or batch size', () => {
    expect(() => resolveEmailRetentionOptions({ batchSize: 0 })).toThrow(/batchSize must be a positive number/);
    expect(() => resolveEmailRetentionOptions({ intervalMs: Number.NaN })).toThrow(/intervalMs must be a positive number/);
  });
});

describe('resolveEmailModuleOptions', () => {
  const base = { appName: 'orders', databaseUrl: 'postgres://db/orders', kafka: { brokers: ['127.0.0.1:9092'] } };

  it('derives the client id and topic prefix from appName, and puts the tables in email_loop', () => {
    expect(resolveEmailModuleOptions(base)).toMatchObject({
      schema: 'email_loop',
      kafka: { brokers: ['127.0.0.1:9092'], clientId: 'orders', topicPrefix: 'orders.' },
    });
  });

  it('keeps an explicit prefix, even an empty one, and an explicit schema', () => {
    const resolved = resolveEmailModuleOptions({ ...base, schema: 'mail', kafka: { ...base.kafka, topicPrefix: '' } });
    expect(resolved).toMatchObject({ schema: 'mail', kafka: { topicPrefix: '' } });
  });

  it('lists every bad field in one error', () => {
    const bad = { appName: 'Orders!', databaseUrl: 'mysql://x', schema: 'Bad-Schema', kafka: { brokers: [] } };
    expect(() => resolveEmailModuleOptions(bad)).toThrow(/EmailModule: invalid options\n {2}appName: .*\n {2}databaseUrl: .*\n {2}schema: .*\n {2}kafka.brokers: /);
  });

  it('takes unsubscribe links with a URL prefix and a long enough secret, and names what is wrong', () => {
    const unsubscribe = { urlPrefix: 'https://api.example.test/v1/unsubscribe/', secret: 's'.repeat(32) };
    expect(resolveEmailModuleOptions({ ...base, unsubscribe }).unsubscribe).toEqual(unsubscribe);
    const bad = { urlPrefix: 'ftp://api.example.test/u', secret: 'short', previousSecrets: ['also short'] };
    expect(() => resolveEmailModuleOptions({ ...base, unsubscribe: bad })).toThrow(
      /unsubscribe.urlPrefix: .*\n {2}unsubscribe.urlPrefix: must end with \/.*\n {2}unsubscribe.secret: at least 32 characters\n {2}unsubscribe.previousSecrets.0: /,
    );
  });

  it('refuses a sender domain that is not a domain and a negative attachment limit', () => {
    const bad = { appName: 'orders', databaseUrl: 'postgres://x/y', kafka: { brokers: ['b:9092'] }, senderDomains: ['shop.example', 'not a domain'], maxAttachmentBytes: -1 };
    expect(() => resolveEmailModuleOptions(bad)).toThrow(/senderDomains.1: must be a domain name[\s\S]*maxAttachmentBytes/);
  });

  it('refuses retention that would let a redelivered event apply twice', () => {
    expect(() => resolveEmailModuleOptions({ ...base, retention: { inboxMs: DAY } })).toThrow(/inboxMs must be 0/);
  });
});

describe('resolveEmailModuleOptions: Kafka TLS and SASL', () => {
  const base = { appName: 'orders', databaseUrl: 'postgres://db/orders', kafka: { brokers: ['127.0.0.1:9092'] } };

  it('passes ssl and sasl through to the module Kafka client', () => {
    const kafka = { ...base.kafka, ssl: { ca: 'CA PEM', rejectUnauthorized: true }, sasl: { mechanism: 'scram-sha-512' as const, username: 'orders', password: 'kafka-secret' } };
    expect(resolveEmailModuleOptions({ ...base, kafka }).kafka).toMatchObject({ ssl: kafka.ssl, sasl: kafka.sasl });
  });

  it('refuses a SASL mechanism without its username or password, never echoing the password', () => {
    const sasl = { mechanism: 'plain', username: '', password: 'kafka-secret' } as never;
    expect(() => resolveEmailModuleOptions({ ...base, kafka: { ...base.kafka, sasl } })).toThrow(/kafka\.sasl\.username: required with mechanism plain/);
    expect(() => resolveEmailModuleOptions({ ...base, kafka: { ...base.kafka, sasl } })).not.toThrow(/kafka-secret/);
  });
});
