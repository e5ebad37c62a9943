import { describe, expect, it } from 'vitest';
import { DEFAULT_EMAIL_RETENTION, resolveEmailRetentionOptions } from './email.options.js';

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
