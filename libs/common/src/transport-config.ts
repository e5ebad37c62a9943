import { accessSync, constants, readFileSync } from 'node:fs';
import { z } from 'zod';

/**
 * A file's text, read once at start-up (CA certificates, client keys, passwords kept out of the
 * environment). A missing or unreadable file is a configuration error naming the variable and
 * the path, never the contents.
 */
export const fileContents = () =>
  z
    .string()
    .min(1)
    .transform((path, ctx) => {
      try {
        return readFileSync(path, 'utf8');
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})` });
        return z.NEVER;
      }
    });

/** A secret read from a file: one trailing newline (what `echo` and editors add) is not part of it. */
export const secretFile = () => fileContents().transform((text) => text.replace(/\r?\n$/, ''));

/** `true`/`false` into a boolean. */
export const booleanFlag = (fallback: boolean) =>
  z
    .enum(['true', 'false'], { message: 'must be true or false' })
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true');

export const KAFKA_SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
export type KafkaSaslMechanism = (typeof KAFKA_SASL_MECHANISMS)[number];

/**
 * TLS and SASL of a Kafka client, in the shape kafkajs's `ssl` and `sasl` options take (common
 * imports no Kafka library, so the shape is repeated here; `@app/kafka` accepts it as is).
 */
export interface KafkaSecurity {
  /** TLS to the brokers; absent: plaintext. */
  ssl?: { ca?: string; cert?: string; key?: string; rejectUnauthorized: boolean };
  /** SASL authentication; absent: none. */
  sasl?: { mechanism: KafkaSaslMechanism; username: string; password: string };
}

/** The environment variables of {@link kafkaSecurityFields}, once parsed. */
export interface KafkaSecuritySettings {
  KAFKA_SSL: boolean;
  KAFKA_SSL_CA_FILE?: string | undefined;
  KAFKA_SSL_CERT_FILE?: string | undefined;
  KAFKA_SSL_KEY_FILE?: string | undefined;
  KAFKA_SSL_REJECT_UNAUTHORIZED: boolean;
  KAFKA_SASL_MECHANISM?: KafkaSaslMechanism | undefined;
  KAFKA_SASL_USERNAME?: string | undefined;
  KAFKA_SASL_PASSWORD?: string | undefined;
  KAFKA_SASL_PASSWORD_FILE?: string | undefined;
}

/** Fields of an app's schema for Kafka TLS and SASL; {@link resolveKafkaSecurity} checks them together. */
export const kafkaSecurityFields = () => ({
  KAFKA_SSL: booleanFlag(false),
  /** PEM of the CA(s) that signed the brokers' certificates; unset: the system's trusted CAs. */
  KAFKA_SSL_CA_FILE: fileContents().optional(),
  /** Client certificate and key (PEM), for brokers that authenticate clients by TLS (mTLS). */
  KAFKA_SSL_CERT_FILE: fileContents().optional(),
  KAFKA_SSL_KEY_FILE: fileContents().optional(),
  KAFKA_SSL_REJECT_UNAUTHORIZED: booleanFlag(true),
  KAFKA_SASL_MECHANISM: z
    .string()
    .transform((v) => v.toLowerCase())
    .pipe(z.enum(KAFKA_SASL_MECHANISMS, { message: `must be one of ${KAFKA_SASL_MECHANISMS.join(', ')}` }))
    .optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD_FILE: secretFile().optional(),
});

export interface ConfigIssue {
  path: string;
  message: string;
}

/**
 * Turns the Kafka security settings into kafkajs's options, or lists what is inconsistent: a
 * mechanism without credentials, credentials without a mechanism, TLS files without `KAFKA_SSL`.
 * Messages name variables, never their values.
 */
export function resolveKafkaSecurity(s: KafkaSecuritySettings): { security: KafkaSecurity; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const security: KafkaSecurity = {};
  for (const name of ['KAFKA_SSL_CA_FILE', 'KAFKA_SSL_CERT_FILE', 'KAFKA_SSL_KEY_FILE'] as const) {
    if (s[name] !== undefined && !s.KAFKA_SSL) issues.push({ path: name, message: 'requires KAFKA_SSL=true' });
  }
  if ((s.KAFKA_SSL_CERT_FILE === undefined) !== (s.KAFKA_SSL_KEY_FILE === undefined)) {
    const missing = s.KAFKA_SSL_CERT_FILE === undefined ? 'KAFKA_SSL_CERT_FILE' : 'KAFKA_SSL_KEY_FILE';
    issues.push({ path: missing, message: 'required with the other of KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE (a client certificate needs its key)' });
  }
  if (s.KAFKA_SSL) {
    security.ssl = {
      rejectUnauthorized: s.KAFKA_SSL_REJECT_UNAUTHORIZED,
      ...(s.KAFKA_SSL_CA_FILE !== undefined && { ca: s.KAFKA_SSL_CA_FILE }),
      ...(s.KAFKA_SSL_CERT_FILE !== undefined && { cert: s.KAFKA_SSL_CERT_FILE }),
      ...(s.KAFKA_SSL_KEY_FILE !== undefined && { key: s.KAFKA_SSL_KEY_FILE }),
    };
  }
  if (s.KAFKA_SASL_PASSWORD !== undefined && s.KAFKA_SASL_PASSWORD_FILE !== undefined) {
    issues.push({ path: 'KAFKA_SASL_PASSWORD_FILE', message: 'set KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both' });
  }
  const password = s.KAFKA_SASL_PASSWORD ?? s.KAFKA_SASL_PASSWORD_FILE;
  if (s.KAFKA_SASL_MECHANISM === undefined) {
    for (const name of ['KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD', 'KAFKA_SASL_PASSWORD_FILE'] as const) {
      if (s[name] !== undefined) issues.push({ path: name, message: 'requires KAFKA_SASL_MECHANISM' });
    }
  } else {
    if (s.KAFKA_SASL_USERNAME === undefined) issues.push({ path: 'KAFKA_SASL_USERNAME', message: 'required with KAFKA_SASL_MECHANISM' });
    if (password === undefined) issues.push({ path: 'KAFKA_SASL_PASSWORD', message: 'required (or KAFKA_SASL_PASSWORD_FILE) with KAFKA_SASL_MECHANISM' });
    else if (password.length === 0) issues.push({ path: 'KAFKA_SASL_PASSWORD_FILE', message: 'the file is empty' });
    if (s.KAFKA_SASL_USERNAME !== undefined && password) {
      security.sasl = { mechanism: s.KAFKA_SASL_MECHANISM, username: s.KAFKA_SASL_USERNAME, password };
    }
  }
  return { security, issues };
}

const KAFKA_SECURITY_KEYS = Object.keys(kafkaSecurityFields()) as (keyof KafkaSecuritySettings)[];

/** An app's config without the raw Kafka security variables: once resolved, the secrets sit in one place. */
export function withoutKafkaSecuritySettings<T extends KafkaSecuritySettings>(config: T): Omit<T, keyof KafkaSecuritySettings> {
  const rest: Partial<T> = { ...config };
  for (const key of KAFKA_SECURITY_KEYS) delete rest[key];
  return rest as Omit<T, keyof KafkaSecuritySettings>;
}

/**
 * `REDIS_URL`: `redis://[:password@]host[:port][/db]`, or `rediss://` for TLS. A password with
 * reserved characters is percent-encoded.
 */
export const redisUrl = () => z.url({ protocol: /^rediss?$/, message: 'must be a redis:// or rediss:// URL' });

/** `sslmode` values node-postgres understands; `disable` and none mean plaintext. */
const PG_SSLMODES = new Set(['disable', 'prefer', 'require', 'no-verify', 'verify-ca', 'verify-full']);

/**
 * A PostgreSQL URL. TLS is configured in it, the way node-postgres (`pg-connection-string`) reads
 * it: `?sslmode=verify-full` checks the server's certificate and name against the system's CAs,
 * `&sslrootcert=/path/ca.pem` against a private CA. The CA file is checked here, so an unreadable
 * one stops the app at start-up rather than at its first connection.
 */
export const postgresUrl = () =>
  z.url({ protocol: /^postgres(ql)?$/, message: 'must be a postgres:// URL' }).superRefine((value, ctx) => {
    let params: URLSearchParams;
    try {
      params = new URL(value).searchParams;
    } catch {
      return; // the URL check above reported it
    }
    const sslmode = params.get('sslmode');
    if (sslmode !== null && !PG_SSLMODES.has(sslmode)) {
      ctx.addIssue({ code: 'custom', message: `sslmode must be one of ${[...PG_SSLMODES].join(', ')}` });
    }
    for (const name of ['sslrootcert', 'sslcert', 'sslkey']) {
      const path = params.get(name);
      if (path === null) continue;
      try {
        accessSync(path, constants.R_OK);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `${name}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})` });
      }
    }
  });
