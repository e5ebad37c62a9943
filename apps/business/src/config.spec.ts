import { describe, expect, it } from 'vitest';
import { loadBusinessConfig } from './config.js';

const valid = {
  BUSINESS_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/business',
  KAFKA_BROKERS: '127.0.0.1:9092',
};

describe('loadBusinessConfig', () => {
  it('keeps the inbox 14 days and final emails 90 days by default, pruning hourly', () => {
    expect(loadBusinessConfig(valid)).toMatchObject({
      BUSINESS_PORT: 3000,
      INBOX_RETENTION_DAYS: 14,
      EMAIL_RETENTION_DAYS: 90,
      RETENTION_INTERVAL_MS: 3_600_000,
    });
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
});
