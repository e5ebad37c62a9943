import { describe, expect, it } from 'vitest';
import { loadMailerConfig, unconfirmedSendPolicy } from './config.js';

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
});
