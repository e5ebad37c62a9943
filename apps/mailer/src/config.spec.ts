import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dedupWindowSeconds, frequencyCap, loadMailerConfig, smtpPoolSize, smtpUrlOf, unconfirmedSendPolicy } from './config.js';

const valid = {
  MAILER_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/mailer',
  KAFKA_BROKERS: '127.0.0.1:9092, 127.0.0.1:9094',
  REDIS_URL: 'redis://127.0.0.1:6379',
  SMTP_URL: 'smtp://127.0.0.1:2525',
};

describe('loadMailerConfig', () => {
  it('applies defaults and derives the Message-ID domain from MAIL_FROM', () => {
    const config = loadMailerConfig({ ...valid, MAIL_FROM: 'Shop <orders@shop.example>' });
    expect(config.KAFKA_BROKERS).toEqual(['127.0.0.1:9092', '127.0.0.1:9094']);
    expect(config.MAILER_PORT).toBe(3001);
    expect(config.MESSAGE_ID_DOMAIN).toBe('shop.example');
    expect(config).toMatchObject({ KAFKA_TOPIC_PARTITIONS: 4, OUTBOX_POLL_INTERVAL_MS: 250 });
  });

  it('leaves the replication to the cluster size unless set, and refuses more in-sync replicas than copies', () => {
    const unset = loadMailerConfig(valid);
    expect([unset.KAFKA_REPLICATION_FACTOR, unset.KAFKA_MIN_INSYNC_REPLICAS]).toEqual([undefined, undefined]);
    expect(loadMailerConfig({ ...valid, KAFKA_REPLICATION_FACTOR: '3', KAFKA_MIN_INSYNC_REPLICAS: '2' })).toMatchObject({ KAFKA_REPLICATION_FACTOR: 3, KAFKA_MIN_INSYNC_REPLICAS: 2 });
    expect(() => loadMailerConfig({ ...valid, KAFKA_REPLICATION_FACTOR: '2', KAFKA_MIN_INSYNC_REPLICAS: '3' })).toThrow(/KAFKA_MIN_INSYNC_REPLICAS: must not exceed KAFKA_REPLICATION_FACTOR/);
    expect(() => loadMailerConfig({ ...valid, KAFKA_REPLICATION_FACTOR: '0' })).toThrow(/KAFKA_REPLICATION_FACTOR/);
  });

  it('reads the topic partitions and the outbox poll interval, refusing nonsense', () => {
    expect(loadMailerConfig({ ...valid, KAFKA_TOPIC_PARTITIONS: '12', OUTBOX_POLL_INTERVAL_MS: '500' })).toMatchObject({
      KAFKA_TOPIC_PARTITIONS: 12,
      OUTBOX_POLL_INTERVAL_MS: 500,
    });
    expect(() => loadMailerConfig({ ...valid, KAFKA_TOPIC_PARTITIONS: '0', OUTBOX_POLL_INTERVAL_MS: 'soon' })).toThrow(
      /KAFKA_TOPIC_PARTITIONS[\s\S]*OUTBOX_POLL_INTERVAL_MS/,
    );
  });

  it('names every bad key in one error', () => {
    expect(() =>
      loadMailerConfig({ ...valid, MAILER_DATABASE_URL: 'mysql://x', KAFKA_BROKERS: 'nohost', SMTP_URL: undefined, MAILER_PORT: '70000' }),
    ).toThrow(/MAILER_DATABASE_URL[\s\S]*KAFKA_BROKERS[\s\S]*SMTP_URL[\s\S]*MAILER_PORT/);
  });

  it('reads the unconfirmed-send policy per lane, resend by default, and rejects anything else', () => {
    const config = loadMailerConfig({ ...valid, UNCONFIRMED_SEND_BULK: 'hold' });
    expect(unconfirmedSendPolicy(config, 'transactional')).toBe('resend');
    expect(unconfirmedSendPolicy(config, 'bulk')).toBe('hold');
    expect(() => loadMailerConfig({ ...valid, UNCONFIRMED_SEND_TRANSACTIONAL: 'maybe' })).toThrow(/UNCONFIRMED_SEND_TRANSACTIONAL/);
  });

  it('sizes one SMTP pool per lane: 10 and 5, SMTP_POOL_SIZE the default of both, a per-lane size wins', () => {
    expect(loadMailerConfig(valid)).toMatchObject({ SMTP_POOL_SIZE_TRANSACTIONAL: 10, SMTP_POOL_SIZE_BULK: 5 });
    expect(loadMailerConfig({ ...valid, SMTP_POOL_SIZE: '3' })).toMatchObject({ SMTP_POOL_SIZE_TRANSACTIONAL: 3, SMTP_POOL_SIZE_BULK: 3 });
    const config = loadMailerConfig({ ...valid, SMTP_POOL_SIZE: '3', SMTP_POOL_SIZE_BULK: '1' });
    expect([smtpPoolSize(config, 'transactional'), smtpPoolSize(config, 'bulk')]).toEqual([3, 1]);
    expect(() => loadMailerConfig({ ...valid, SMTP_POOL_SIZE_TRANSACTIONAL: '0' })).toThrow(/SMTP_POOL_SIZE_TRANSACTIONAL/);
  });

  it('keeps final requests 30 days and the inbox 14 by default; 0 keeps them forever', () => {
    expect(loadMailerConfig(valid)).toMatchObject({ MAIL_REQUEST_RETENTION_DAYS: 30, INBOX_RETENTION_DAYS: 14, RETENTION_INTERVAL_MS: 3_600_000 });
    expect(loadMailerConfig({ ...valid, MAIL_REQUEST_RETENTION_DAYS: '0', INBOX_RETENTION_DAYS: '0' })).toMatchObject({
      MAIL_REQUEST_RETENTION_DAYS: 0,
      INBOX_RETENTION_DAYS: 0,
    });
  });

  it('refuses to forget requests or inbox rows while Kafka can still redeliver their messages', () => {
    expect(() => loadMailerConfig({ ...valid, MAIL_REQUEST_RETENTION_DAYS: '7', INBOX_RETENTION_DAYS: '13' })).toThrow(
      /MAIL_REQUEST_RETENTION_DAYS: 0 \(keep forever\) or at least 14 days[\s\S]*INBOX_RETENTION_DAYS/,
    );
  });
  it('reads dedup windows and frequency caps per category: off by default, bulk-only default window, listed categories on any lane', () => {
    const off = loadMailerConfig(valid);
    expect(dedupWindowSeconds(off, 'bulk', undefined)).toBe(0);
    expect(frequencyCap(off, 'newsletter')).toBeUndefined();
    const config = loadMailerConfig({ ...valid, DEDUP_WINDOW_SECONDS: '3600', DEDUP_CATEGORIES: 'newsletter:86400, receipt:60', FREQUENCY_CAP: 'newsletter:3' });
    expect(dedupWindowSeconds(config, 'bulk', undefined)).toBe(3600);
    expect(dedupWindowSeconds(config, 'transactional', undefined)).toBe(0);
    expect(dedupWindowSeconds(config, 'transactional', 'receipt')).toBe(60);
    expect(dedupWindowSeconds(config, 'bulk', 'newsletter')).toBe(86400);
    expect(frequencyCap(config, 'newsletter')).toBe(3);
    expect(frequencyCap(config, undefined)).toBeUndefined();
  });

  it.each([['newsletter'], ['newsletter:0'], ['News:3'], ['a:1,a:2'], ['x:1;y:2']])('refuses FREQUENCY_CAP=%s and DEDUP_CATEGORIES=%s', (value) => {
    expect(() => loadMailerConfig({ ...valid, FREQUENCY_CAP: value, DEDUP_CATEGORIES: value })).toThrow(/DEDUP_CATEGORIES[\s\S]*FREQUENCY_CAP/);
  });

  it('routes each lane to SMTP_URL unless SMTP_URL_<LANE> names its own server', () => {
    const shared = loadMailerConfig(valid);
    expect([smtpUrlOf(shared, 'transactional'), smtpUrlOf(shared, 'bulk')]).toEqual([valid.SMTP_URL, valid.SMTP_URL]);
    const split = loadMailerConfig({ ...valid, SMTP_URL_BULK: 'smtps://bulk.relay.example:465' });
    expect([smtpUrlOf(split, 'transactional'), smtpUrlOf(split, 'bulk')]).toEqual([valid.SMTP_URL, 'smtps://bulk.relay.example:465']);
    expect(() => loadMailerConfig({ ...valid, SMTP_URL_TRANSACTIONAL: 'http://x' })).toThrow(/SMTP_URL_TRANSACTIONAL/);
  });

  it('reads MAIL_SENDER_DOMAINS as a lower-cased list, none by default, refusing what is not a domain', () => {
    expect(loadMailerConfig(valid).MAIL_SENDER_DOMAINS).toEqual([]);
    expect(loadMailerConfig({ ...valid, MAIL_SENDER_DOMAINS: 'Shop.Example, news.shop.example' }).MAIL_SENDER_DOMAINS).toEqual(['shop.example', 'news.shop.example']);
    expect(() => loadMailerConfig({ ...valid, MAIL_SENDER_DOMAINS: 'shop.example,not a domain' })).toThrow(/MAIL_SENDER_DOMAINS/);
  });

  describe('DKIM', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    const dkim = { DKIM_DOMAIN: 'shop.example', DKIM_SELECTOR: 's1' };

    it('signs nothing when no DKIM variable is set', () => {
      expect(loadMailerConfig(valid).DKIM).toBeUndefined();
    });

    it('takes the key inline (also with its line breaks written as \\n) or from a file, and keeps it out of the other keys', () => {
      expect(loadMailerConfig({ ...valid, ...dkim, DKIM_PRIVATE_KEY: privateKey }).DKIM).toEqual({ domainName: 'shop.example', keySelector: 's1', privateKey });
      expect(loadMailerConfig({ ...valid, ...dkim, DKIM_PRIVATE_KEY: privateKey.replace(/\n/g, '\\n') }).DKIM?.privateKey).toBe(privateKey);
      const file = join(mkdtempSync(join(tmpdir(), 'dkim-')), 'key.pem');
      writeFileSync(file, privateKey);
      const config = loadMailerConfig({ ...valid, ...dkim, DKIM_PRIVATE_KEY_FILE: file });
      expect(config.DKIM?.privateKey).toBe(privateKey);
      expect(config).not.toHaveProperty('DKIM_PRIVATE_KEY_FILE');
      expect(config).not.toHaveProperty('DKIM_PRIVATE_KEY');
    });

    it.each([
      ['a key that does not parse', { ...dkim, DKIM_PRIVATE_KEY: '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----' }, /DKIM_PRIVATE_KEY: is not a private key in PEM format/],
      ['a public key', { ...dkim, DKIM_PRIVATE_KEY: generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString() }, /DKIM_PRIVATE_KEY: is not a private key/],
      ['a key file that does not exist', { ...dkim, DKIM_PRIVATE_KEY_FILE: '/nonexistent/dkim.pem' }, /DKIM_PRIVATE_KEY_FILE: cannot be read: ENOENT/],
      ['no key', dkim, /DKIM_PRIVATE_KEY: required/],
      ['a key without domain and selector', { DKIM_PRIVATE_KEY: privateKey }, /DKIM_DOMAIN: required[\s\S]*DKIM_SELECTOR: required/],
      ['both key sources', { ...dkim, DKIM_PRIVATE_KEY: privateKey, DKIM_PRIVATE_KEY_FILE: '/x.pem' }, /DKIM_PRIVATE_KEY_FILE: set DKIM_PRIVATE_KEY or DKIM_PRIVATE_KEY_FILE, not both/],
    ])('refuses %s at start-up, naming the variable', (_, env, error) => {
      expect(() => loadMailerConfig({ ...valid, ...env })).toThrow(error);
    });
  });

  it('reads the send rates, off by default, and names a bad one', () => {
    const off = loadMailerConfig(valid);
    expect(off.RATE_LIMIT_GLOBAL).toBeUndefined();
    expect(off.RATE_LIMIT_DOMAINS).toEqual(new Map());
    expect(loadMailerConfig({ ...valid, RATE_LIMIT_GLOBAL: '100/s', RATE_LIMIT_DOMAINS: 'gmail.com:20/s,yahoo.com:600/m' })).toMatchObject({
      RATE_LIMIT_GLOBAL: { points: 100, durationSeconds: 1 },
      RATE_LIMIT_DOMAINS: new Map([
        ['gmail.com', { points: 20, durationSeconds: 1 }],
        ['yahoo.com', { points: 600, durationSeconds: 60 }],
      ]),
    });
    expect(off.RATE_LIMIT_BULK_SHARE).toBe(0.8);
    expect(() => loadMailerConfig({ ...valid, RATE_LIMIT_BULK_SHARE: '0' })).toThrow(/RATE_LIMIT_BULK_SHARE/);
    expect(() => loadMailerConfig({ ...valid, RATE_LIMIT_GLOBAL: 'fast', RATE_LIMIT_DOMAINS: 'gmail.com' })).toThrow(
      /RATE_LIMIT_GLOBAL: "fast" is not a rate[\s\S]*RATE_LIMIT_DOMAINS: "gmail.com" is not domain:rate/,
    );
  });

  it('switches the recipient-domain check on only when asked, with its resolvers', () => {
    expect(loadMailerConfig(valid)).toMatchObject({ MAIL_CHECK_RECIPIENT_DOMAINS: false, DNS_SERVERS: [], DNS_TIMEOUT_MS: 2_000 });
    expect(loadMailerConfig({ ...valid, MAIL_CHECK_RECIPIENT_DOMAINS: 'true', DNS_SERVERS: '127.0.0.1:5353, 192.0.2.53' })).toMatchObject({
      MAIL_CHECK_RECIPIENT_DOMAINS: true,
      DNS_SERVERS: ['127.0.0.1:5353', '192.0.2.53'],
    });
    expect(() => loadMailerConfig({ ...valid, MAIL_CHECK_RECIPIENT_DOMAINS: 'yes', DNS_SERVERS: 'dns.example' })).toThrow(/MAIL_CHECK_RECIPIENT_DOMAINS[\s\S]*DNS_SERVERS/);
  });

  it('reads the retry window and the longest back-off, with defaults', () => {
    expect(loadMailerConfig(valid)).toMatchObject({ SEND_RETRY_WINDOW_MS: 3_600_000, SEND_RETRY_MAX_DELAY_MS: 300_000 });
    expect(() => loadMailerConfig({ ...valid, SEND_RETRY_WINDOW_MS: '-1' })).toThrow(/SEND_RETRY_WINDOW_MS/);
  });
});

describe('loadMailerConfig: listener and secrets', () => {
  it('binds 0.0.0.0 by default and takes MAILER_HOST and CORS_ORIGINS', () => {
    expect(loadMailerConfig(valid)).toMatchObject({ MAILER_HOST: '0.0.0.0', CORS_ORIGINS: [] });
    expect(loadMailerConfig({ ...valid, MAILER_HOST: '127.0.0.1', CORS_ORIGINS: 'https://ops.example' })).toMatchObject({
      MAILER_HOST: '127.0.0.1',
      CORS_ORIGINS: ['https://ops.example'],
    });
  });

  it('never quotes the password of a bad SMTP_URL or REDIS_URL', () => {
    const run = () => loadMailerConfig({ ...valid, SMTP_URL: 'smtps://user:smtp-pass-789@smtp.example.com:99999', REDIS_URL: 'redis://:redis-pass-456@cache:bad' });
    expect(run).toThrow(/REDIS_URL[\s\S]*SMTP_URL/);
    expect(run).not.toThrow(/smtp-pass-789|redis-pass-456/);
  });
});

describe('loadMailerConfig: transports (TLS and credentials)', () => {
  const ca = join(mkdtempSync(join(tmpdir(), 'mailer-config-')), 'ca.pem');
  writeFileSync(ca, 'CA PEM');
  const error = (env: Record<string, string | undefined>): string => {
    try {
      loadMailerConfig({ ...valid, ...env });
    } catch (e) {
      return (e as Error).message;
    }
    return expect.fail('the configuration was accepted');
  };

  it('requires TLS to the SMTP server by default, verifying certificates', () => {
    expect(loadMailerConfig(valid)).toMatchObject({ SMTP_TLS: 'required', SMTP_TLS_REJECT_UNAUTHORIZED: true, SMTP_TLS_CA: undefined });
    expect(loadMailerConfig({ ...valid, SMTP_TLS: 'opportunistic', SMTP_TLS_CA_FILE: ca })).toMatchObject({ SMTP_TLS: 'opportunistic', SMTP_TLS_CA: 'CA PEM' });
    expect(error({ SMTP_TLS: 'sometimes' })).toMatch(/SMTP_TLS/);
  });

  it('refuses SMTP_TLS=none with an smtps:// route or a CA, and an unreadable CA file', () => {
    expect(error({ SMTP_TLS: 'none', SMTP_URL_BULK: 'smtps://user:smtp-secret@relay.example:465' })).toMatch(/SMTP_URL_BULK: smtps:\/\/ is TLS/);
    expect(error({ SMTP_TLS: 'none', SMTP_URL_BULK: 'smtps://user:smtp-secret@relay.example:465' })).not.toContain('smtp-secret');
    expect(error({ SMTP_TLS: 'none', SMTP_TLS_CA_FILE: ca })).toMatch(/SMTP_TLS_CA_FILE: has no use/);
    expect(error({ SMTP_TLS_CA_FILE: '/nonexistent/ca.pem' })).toMatch(/SMTP_TLS_CA_FILE: cannot read \/nonexistent\/ca.pem/);
  });

  it('takes a CA for rediss:// only, and never echoes a URL with a password', () => {
    expect(loadMailerConfig({ ...valid, REDIS_URL: 'rediss://:pw@redis.example:6380', REDIS_TLS_CA_FILE: ca })).toMatchObject({ REDIS_TLS_CA: 'CA PEM' });
    expect(error({ REDIS_TLS_CA_FILE: ca })).toMatch(/REDIS_TLS_CA_FILE: requires a rediss:\/\/ REDIS_URL/);
    expect(error({ REDIS_URL: 'http://:redis-secret@x' })).not.toContain('redis-secret');
    expect(error({ SMTP_URL: 'smtpx://u:smtp-secret@x' })).not.toContain('smtp-secret');
  });

  it('passes Kafka TLS and SASL to the client and keeps the raw variables out of the config', () => {
    const config = loadMailerConfig({ ...valid, KAFKA_SSL: 'true', KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'mailer', KAFKA_SASL_PASSWORD: 'kafka-secret' });
    expect(config.KAFKA_SECURITY).toEqual({ ssl: { rejectUnauthorized: true }, sasl: { mechanism: 'plain', username: 'mailer', password: 'kafka-secret' } });
    expect(config).not.toHaveProperty('KAFKA_SASL_PASSWORD');
    expect(error({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_PASSWORD: 'kafka-secret' })).toMatch(/KAFKA_SASL_USERNAME: required/);
    expect(error({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_PASSWORD: 'kafka-secret' })).not.toContain('kafka-secret');
  });
});
