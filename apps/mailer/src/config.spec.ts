import { describe, expect, it } from 'vitest';
import { dedupWindowSeconds, frequencyCap, loadMailerConfig, smtpPoolSize, unconfirmedSendPolicy } from './config.js';

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
});
