import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadBusinessConfig } from './config.js';

const secretsKey = randomBytes(32);
const valid = {
  BUSINESS_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/business',
  KAFKA_BROKERS: '127.0.0.1:9092',
  REDIS_URL: 'redis://127.0.0.1:6379',
  WEBHOOK_SECRETS_KEY: secretsKey.toString('base64'),
};

describe('loadBusinessConfig', () => {
  it('keeps the inbox 14 days and final emails 90 days by default, pruning hourly', () => {
    expect(loadBusinessConfig(valid)).toMatchObject({
      BUSINESS_PORT: 3000,
      INBOX_RETENTION_DAYS: 14,
      EMAIL_RETENTION_DAYS: 90,
      RETENTION_INTERVAL_MS: 3_600_000,
      KAFKA_TOPIC_PARTITIONS: 4,
      OUTBOX_POLL_INTERVAL_MS: 250,
    });
  });

  it('leaves the replication to the cluster size unless set, and refuses more in-sync replicas than copies', () => {
    const unset = loadBusinessConfig(valid);
    expect([unset.KAFKA_REPLICATION_FACTOR, unset.KAFKA_MIN_INSYNC_REPLICAS]).toEqual([undefined, undefined]);
    expect(loadBusinessConfig({ ...valid, KAFKA_REPLICATION_FACTOR: '3', KAFKA_MIN_INSYNC_REPLICAS: '2' })).toMatchObject({ KAFKA_REPLICATION_FACTOR: 3, KAFKA_MIN_INSYNC_REPLICAS: 2 });
    expect(() => loadBusinessConfig({ ...valid, KAFKA_REPLICATION_FACTOR: '2', KAFKA_MIN_INSYNC_REPLICAS: '3' })).toThrow(/KAFKA_MIN_INSYNC_REPLICAS: must not exceed KAFKA_REPLICATION_FACTOR/);
    expect(() => loadBusinessConfig({ ...valid, KAFKA_REPLICATION_FACTOR: '0' })).toThrow(/KAFKA_REPLICATION_FACTOR/);
  });

  it('reads the topic partitions and the outbox poll interval, refusing nonsense', () => {
    expect(loadBusinessConfig({ ...valid, KAFKA_TOPIC_PARTITIONS: '12', OUTBOX_POLL_INTERVAL_MS: '500' })).toMatchObject({
      KAFKA_TOPIC_PARTITIONS: 12,
      OUTBOX_POLL_INTERVAL_MS: 500,
    });
    expect(() => loadBusinessConfig({ ...valid, KAFKA_TOPIC_PARTITIONS: '1.5', OUTBOX_POLL_INTERVAL_MS: '0' })).toThrow(
      /KAFKA_TOPIC_PARTITIONS[\s\S]*OUTBOX_POLL_INTERVAL_MS/,
    );
  });

  it('takes 0 as "keep forever"', () => {
    expect(loadBusinessConfig({ ...valid, INBOX_RETENTION_DAYS: '0', EMAIL_RETENTION_DAYS: '0' })).toMatchObject({
      INBOX_RETENTION_DAYS: 0,
      EMAIL_RETENTION_DAYS: 0,
    });
  });

  it('refuses ages shorter than Kafka can still redeliver a message, naming every key', () => {
    expect(() => loadBusinessConfig({ ...valid, INBOX_RETENTION_DAYS: '7', EMAIL_RETENTION_DAYS: '-1', RETENTION_INTERVAL_MS: '10' })).toThrow(
      /INBOX_RETENTION_DAYS: 0 \(keep forever\) or at least 14 days[\s\S]*EMAIL_RETENTION_DAYS[\s\S]*RETENTION_INTERVAL_MS/,
    );
  });

  it('delivers webhooks to public addresses only by default, retrying for about a day and disabling after five', () => {
    const config = loadBusinessConfig(valid);
    expect(config.WEBHOOK_ALLOWED_NETWORKS.networks).toEqual([]);
    expect(config.WEBHOOK_RETRY_SCHEDULE_MS.length).toBeGreaterThan(5);
    expect(config).toMatchObject({ WEBHOOK_TIMEOUT_MS: 5_000, WEBHOOK_DISABLE_AFTER_MS: 5 * 86_400_000, WEBHOOK_RETENTION_DAYS: 30 });
  });

  it('names a bad CIDR, a bad retry schedule and a disable window shorter than the schedule', () => {
    expect(() => loadBusinessConfig({ ...valid, WEBHOOK_ALLOWED_NETWORKS: '127.0.0.0/8,10.0.0.0/99' })).toThrow(
      /WEBHOOK_ALLOWED_NETWORKS: .*10\.0\.0\.0\/99/,
    );
    expect(() => loadBusinessConfig({ ...valid, WEBHOOK_RETRY_SCHEDULE_MS: '200,soon' })).toThrow(/WEBHOOK_RETRY_SCHEDULE_MS: .*soon/);
    expect(() => loadBusinessConfig({ ...valid, WEBHOOK_RETRY_SCHEDULE_MS: '60000,60000', WEBHOOK_DISABLE_AFTER_MS: '100000' })).toThrow(
      /WEBHOOK_DISABLE_AFTER_MS: must exceed the retry schedule's span/,
    );
    expect(() => loadBusinessConfig({ ...valid, REDIS_URL: undefined })).toThrow(/REDIS_URL/);
  });

  it('signs unsubscribe links only with both a base URL and a long enough secret', () => {
    const off = loadBusinessConfig(valid);
    expect([off.UNSUBSCRIBE_BASE_URL, off.UNSUBSCRIBE_SECRET, off.UNSUBSCRIBE_PREVIOUS_SECRETS]).toEqual([undefined, undefined, []]);
    const secret = 's'.repeat(32);
    const old = 'o'.repeat(32);
    expect(
      loadBusinessConfig({ ...valid, UNSUBSCRIBE_BASE_URL: 'https://api.example.test/', UNSUBSCRIBE_SECRET: secret, UNSUBSCRIBE_PREVIOUS_SECRETS: `${old}, ${old}x` }),
    ).toMatchObject({ UNSUBSCRIBE_BASE_URL: 'https://api.example.test', UNSUBSCRIBE_SECRET: secret, UNSUBSCRIBE_PREVIOUS_SECRETS: [old, `${old}x`] });
    expect(() => loadBusinessConfig({ ...valid, UNSUBSCRIBE_BASE_URL: 'https://api.example.test' })).toThrow(/UNSUBSCRIBE_SECRET: required with the other/);
    expect(() => loadBusinessConfig({ ...valid, UNSUBSCRIBE_SECRET: secret })).toThrow(/UNSUBSCRIBE_BASE_URL: required with the other/);
    expect(() =>
      loadBusinessConfig({ ...valid, UNSUBSCRIBE_BASE_URL: 'ftp://x.test', UNSUBSCRIBE_SECRET: 'short', UNSUBSCRIBE_PREVIOUS_SECRETS: 'also-short' }),
    ).toThrow(/UNSUBSCRIBE_BASE_URL[\s\S]*UNSUBSCRIBE_SECRET: must be at least 32[\s\S]*UNSUBSCRIBE_PREVIOUS_SECRETS/);
  });

  it('reads the sender domains (none by default) and the attachment limit (512 KiB by default)', () => {
    expect(loadBusinessConfig(valid)).toMatchObject({ MAIL_SENDER_DOMAINS: [], MAIL_MAX_ATTACHMENT_BYTES: 524_288 });
    expect(loadBusinessConfig({ ...valid, MAIL_SENDER_DOMAINS: 'shop.example, News.Shop.Example', MAIL_MAX_ATTACHMENT_BYTES: '1000' })).toMatchObject({
      MAIL_SENDER_DOMAINS: ['shop.example', 'news.shop.example'],
      MAIL_MAX_ATTACHMENT_BYTES: 1_000,
    });
    expect(() => loadBusinessConfig({ ...valid, MAIL_SENDER_DOMAINS: 'shop.example,@evil', MAIL_MAX_ATTACHMENT_BYTES: 'lots' })).toThrow(
      /MAIL_SENDER_DOMAINS[\s\S]*MAIL_MAX_ATTACHMENT_BYTES/,
    );
  });

  it('requires the webhook secrets key and caps endpoints at 25 per key and 1000 in all by default', () => {
    const previous = randomBytes(32);
    expect(loadBusinessConfig({ ...valid, WEBHOOK_SECRETS_PREVIOUS_KEYS: ` ${previous.toString('hex')} ` })).toMatchObject({
      WEBHOOK_SECRETS_KEY: secretsKey,
      WEBHOOK_SECRETS_PREVIOUS_KEYS: [previous],
      WEBHOOK_MAX_ENDPOINTS_PER_KEY: 25,
      WEBHOOK_MAX_ENDPOINTS: 1_000,
    });
    const { WEBHOOK_SECRETS_KEY: _, ...withoutKey } = valid;
    expect(() => loadBusinessConfig(withoutKey)).toThrow(/WEBHOOK_SECRETS_KEY: is required/);
    expect(() => loadBusinessConfig({ ...valid, WEBHOOK_MAX_ENDPOINTS_PER_KEY: '50', WEBHOOK_MAX_ENDPOINTS: '10' })).toThrow(/WEBHOOK_MAX_ENDPOINTS_PER_KEY/);
  });

  it('names a bad secrets key without repeating it', () => {
    const bad = randomBytes(31).toString('base64');
    const badPrevious = 'not-a-key-at-all';
    let message = '';
    try {
      loadBusinessConfig({ ...valid, WEBHOOK_SECRETS_KEY: bad, WEBHOOK_SECRETS_PREVIOUS_KEYS: `${secretsKey.toString('hex')},${badPrevious}` });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/WEBHOOK_SECRETS_KEY: must be 32 bytes[\s\S]*WEBHOOK_SECRETS_PREVIOUS_KEYS: entry 2 must be 32 bytes/);
    for (const value of [bad, badPrevious, secretsKey.toString('hex')]) expect(message).not.toContain(value);
  });
});

describe('loadBusinessConfig: listeners', () => {
  it('binds 0.0.0.0 and has no public listener by default', () => {
    const config = loadBusinessConfig(valid);
    expect(config).toMatchObject({ BUSINESS_HOST: '0.0.0.0', PUBLIC_HOST: '0.0.0.0', CORS_ORIGINS: [] });
    expect(config.PUBLIC_PORT).toBeUndefined();
  });

  it('reads the public port and refuses it on the API port', () => {
    expect(loadBusinessConfig({ ...valid, PUBLIC_PORT: '8080', PUBLIC_HOST: '10.0.0.5' })).toMatchObject({ PUBLIC_PORT: 8080, PUBLIC_HOST: '10.0.0.5' });
    expect(() => loadBusinessConfig({ ...valid, BUSINESS_PORT: '8080', PUBLIC_PORT: '8080' })).toThrow(/PUBLIC_PORT: must differ from BUSINESS_PORT/);
  });

  it('never quotes a secret in its error', () => {
    const run = () =>
      loadBusinessConfig({
        ...valid,
        BUSINESS_DATABASE_URL: 'mysql://app:db-pass-123@db/x',
        REDIS_URL: 'http://:redis-pass-456@cache',
        UNSUBSCRIBE_SECRET: 'too-short-secret',
      });
    expect(run).toThrow(/BUSINESS_DATABASE_URL[\s\S]*REDIS_URL[\s\S]*UNSUBSCRIBE_SECRET/);
    expect(run).not.toThrow(/db-pass-123|redis-pass-456|too-short-secret/);
  });
});

describe('loadBusinessConfig: transports (TLS and credentials)', () => {
  it('passes Kafka TLS and SASL to the client, keeps the raw variables out, and names a missing one without echoing the secret', () => {
    const config = loadBusinessConfig({ ...valid, KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'business', KAFKA_SASL_PASSWORD: 'kafka-secret' });
    expect(config.KAFKA_SECURITY).toEqual({ sasl: { mechanism: 'scram-sha-512', username: 'business', password: 'kafka-secret' } });
    expect(config).not.toHaveProperty('KAFKA_SASL_PASSWORD');
    expect(() => loadBusinessConfig({ ...valid, KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_PASSWORD: 'kafka-secret' })).toThrow(/KAFKA_SASL_USERNAME: required/);
    expect(() => loadBusinessConfig({ ...valid, KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_PASSWORD: 'kafka-secret' })).not.toThrow(/kafka-secret/);
  });

  it('takes a Redis CA for rediss:// only', () => {
    expect(() => loadBusinessConfig({ ...valid, REDIS_TLS_CA_FILE: '/nonexistent/ca.pem' })).toThrow(/REDIS_TLS_CA_FILE: cannot read/);
    expect(loadBusinessConfig({ ...valid, REDIS_URL: 'rediss://:pw@redis.example:6380' })).toMatchObject({ REDIS_TLS_CA: undefined });
  });
});
