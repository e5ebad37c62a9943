import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from './config.js';
import { isSecretKey, redactSecrets, redactUrl, secretValuesOf } from './redaction.js';

describe('redactSecrets / redactUrl', () => {
  it('cuts the userinfo out of every URL in a text, valid or not', () => {
    expect(redactUrl('redis://:s3cr3t-pass@cache.internal:6379/0')).toBe('redis://***@cache.internal:6379/0');
    expect(redactUrl('smtps://user%40corp:p%40ss@smtp.example.com:465')).toBe('smtps://***@smtp.example.com:465');
    expect(redactSecrets('connect to postgres://app:hunter2@db:5432/x failed; then https://tok3n@hooks.example/a')).toBe(
      'connect to postgres://***@db:5432/x failed; then https://***@hooks.example/a',
    );
  });

  it('blanks secret-named parameters and keeps the rest of a URL', () => {
    expect(redactUrl('https://hooks.example/in?token=abc123&team=7')).toBe('https://hooks.example/in?token=***&team=7');
    expect(redactUrl('postgres://db/x?sslmode=require&sslpassword=kp&password=pw')).toBe(
      'postgres://db/x?sslmode=require&sslpassword=***&password=***',
    );
    expect(redactUrl('http://127.0.0.1:3000/health')).toBe('http://127.0.0.1:3000/health');
  });

  it('knows secret key names', () => {
    for (const key of ['UNSUBSCRIBE_SECRET', 'UNSUBSCRIBE_PREVIOUS_SECRETS', 'DKIM_PRIVATE_KEY', 'SMTP_PASSWORD', 'API_KEY_PEPPER_TOKEN']) {
      expect(isSecretKey(key)).toBe(true);
    }
    for (const key of ['SMTP_URL', 'BUSINESS_PORT', 'DKIM_SELECTOR', 'MAIL_FROM']) expect(isSecretKey(key)).toBe(false);
  });

  it('collects the secret parts of an environment, and not user names', () => {
    const secrets = secretValuesOf({
      SMTP_URL: 'smtps://mailer:smtp-pass-1@smtp.example.com:99999',
      REDIS_URL: 'redis://:redis-token-2@cache:6379',
      BUSINESS_DATABASE_URL: 'postgres://postgres@db/x',
      UNSUBSCRIBE_PREVIOUS_SECRETS: 'old-secret-a,old-secret-b',
      MAIL_FROM: 'Shop <a@shop.example>',
    });
    expect(secrets).toEqual(expect.arrayContaining(['smtp-pass-1', 'redis-token-2', 'old-secret-a', 'old-secret-b']));
    expect(secrets).not.toContain('mailer');
    expect(secrets).not.toContain('postgres');
  });
});

describe('loadConfig never prints a secret', () => {
  // A parser whose message quotes the value it refused, as hand-written parsers (and zod's own
  // messages for some checks) do.
  const quoting = z.string().refine((v) => v.startsWith('ok'), { error: (issue) => `cannot use "${String(issue.input)}"` });
  const schema = z.object({ UNSUBSCRIBE_SECRET: quoting, SMTP_URL: quoting, MODE: quoting });

  it('cuts the values of secret-named keys and the credentials of URL keys out of every message', () => {
    let message = '';
    try {
      loadConfig(schema, { UNSUBSCRIBE_SECRET: 'correct-horse-battery-staple', SMTP_URL: 'smtps://user:smtp-pass@h:1', MODE: 'fast' }, 'app');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('UNSUBSCRIBE_SECRET: cannot use "***"');
    expect(message).toContain('SMTP_URL: cannot use "smtps://***@h:1"');
    // Not a secret: still quoted, so the operator sees what is wrong.
    expect(message).toContain('MODE: cannot use "fast"');
    expect(message).not.toContain('correct-horse');
    expect(message).not.toContain('smtp-pass');
  });
});
