import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from './config.js';
import { kafkaSecurityFields, resolveKafkaSecurity, withoutKafkaSecuritySettings } from './transport-config.js';

const schema = z.object(kafkaSecurityFields()).transform((c, ctx) => {
  const { security, issues } = resolveKafkaSecurity(c);
  for (const issue of issues) ctx.addIssue({ code: 'custom', path: [issue.path], message: issue.message });
  return { ...withoutKafkaSecuritySettings(c), KAFKA_SECURITY: security };
});
const load = (env: Record<string, string>) => loadConfig(schema, env, 'test');
const SECRET = 's3cret-kafka-password';

function file(content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'transport-config-')), 'f');
  writeFileSync(path, content);
  return path;
}

/** The error `load` throws, checked to hold no secret. */
function refusal(env: Record<string, string>): string {
  let message = '';
  try {
    load(env);
  } catch (error) {
    message = (error as Error).message;
  }
  expect(message).not.toBe('');
  expect(message).not.toContain(SECRET);
  return message;
}

describe('Kafka TLS and SASL settings', () => {
  it('means plaintext and no authentication when unset', () => {
    expect(load({}).KAFKA_SECURITY).toEqual({});
  });

  it('builds kafkajs ssl and sasl options, reading the files once and trimming the password file', () => {
    const config = load({
      KAFKA_SSL: 'true',
      KAFKA_SSL_CA_FILE: file('CA PEM'),
      KAFKA_SSL_CERT_FILE: file('CERT PEM'),
      KAFKA_SSL_KEY_FILE: file('KEY PEM'),
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KAFKA_SASL_USERNAME: 'app',
      KAFKA_SASL_PASSWORD_FILE: file(`${SECRET}\n`),
    });
    expect(config.KAFKA_SECURITY).toEqual({
      ssl: { ca: 'CA PEM', cert: 'CERT PEM', key: 'KEY PEM', rejectUnauthorized: true },
      sasl: { mechanism: 'scram-sha-512', username: 'app', password: SECRET },
    });
    // The raw variables are gone: the password sits in KAFKA_SECURITY only.
    expect(Object.keys(config)).toEqual(['KAFKA_SECURITY']);
  });

  it('refuses a mechanism without credentials, and credentials without a mechanism, naming each variable', () => {
    expect(refusal({ KAFKA_SASL_MECHANISM: 'plain' })).toMatch(/KAFKA_SASL_USERNAME: required[\s\S]*KAFKA_SASL_PASSWORD: required/);
    expect(refusal({ KAFKA_SASL_USERNAME: 'app', KAFKA_SASL_PASSWORD: SECRET })).toMatch(
      /KAFKA_SASL_USERNAME: requires KAFKA_SASL_MECHANISM[\s\S]*KAFKA_SASL_PASSWORD: requires KAFKA_SASL_MECHANISM/,
    );
    expect(refusal({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'app', KAFKA_SASL_PASSWORD: SECRET, KAFKA_SASL_PASSWORD_FILE: file(SECRET) })).toMatch(
      /KAFKA_SASL_PASSWORD_FILE: set KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both/,
    );
    expect(refusal({ KAFKA_SASL_MECHANISM: 'gssapi', KAFKA_SASL_USERNAME: 'app', KAFKA_SASL_PASSWORD: SECRET })).toMatch(/KAFKA_SASL_MECHANISM: must be one of/);
    expect(refusal({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'app', KAFKA_SASL_PASSWORD_FILE: file('\n') })).toMatch(/KAFKA_SASL_PASSWORD_FILE: the file is empty/);
  });

  it('refuses an unreadable file naming the variable and path, and TLS files without KAFKA_SSL', () => {
    expect(refusal({ KAFKA_SSL: 'true', KAFKA_SSL_CA_FILE: '/nonexistent/ca.pem' })).toMatch(/KAFKA_SSL_CA_FILE: cannot read \/nonexistent\/ca.pem \(ENOENT\)/);
    expect(refusal({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'app', KAFKA_SASL_PASSWORD_FILE: '/nonexistent/pw' })).toMatch(/KAFKA_SASL_PASSWORD_FILE: cannot read/);
    expect(refusal({ KAFKA_SSL_CA_FILE: file('CA') })).toMatch(/KAFKA_SSL_CA_FILE: requires KAFKA_SSL=true/);
    expect(refusal({ KAFKA_SSL: 'true', KAFKA_SSL_CERT_FILE: file('CERT') })).toMatch(/KAFKA_SSL_KEY_FILE: required with the other/);
    expect(refusal({ KAFKA_SSL: 'yes' })).toMatch(/KAFKA_SSL: must be true or false/);
  });

  it('never echoes a password given inline when another setting is wrong', () => {
    expect(refusal({ KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_PASSWORD: SECRET })).toMatch(/KAFKA_SASL_USERNAME/);
  });
});
