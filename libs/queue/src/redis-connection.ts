import type { RedisOptions } from 'ioredis';

/** Where and how to reach Redis: what both ioredis and BullMQ take. */
export type RedisEndpoint = Pick<RedisOptions, 'host' | 'port' | 'username' | 'password' | 'db' | 'tls'>;

export interface RedisTlsSettings {
  /** PEM of the CA(s) that signed the server's certificate (`REDIS_TLS_CA_FILE`); unset: the system's CAs. Only with `rediss://`. */
  tlsCa?: string | undefined;
}

/**
 * ioredis options for `REDIS_URL`: every Redis client of the apps (BullMQ queues and workers,
 * the rate limiter) is built from this, so TLS and credentials apply to all of them alike.
 * `redis://[user][:password@]host[:port][/db]`; `rediss://` connects over TLS and verifies the
 * server's certificate and host name (against `tlsCa` when given). ioredis parses the URL itself
 * too, but takes no CA from it: the URL is taken apart here so one object carries both.
 */
export function redisOptions(url: string, settings: RedisTlsSettings = {}): RedisEndpoint {
  const parsed = new URL(url);
  const tls = parsed.protocol === 'rediss:';
  if (settings.tlsCa !== undefined && !tls) throw new Error('a Redis CA is given but REDIS_URL is not rediss://');
  const db = parsed.pathname.replace(/^\//, '');
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    ...(parsed.username && { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password && { password: decodeURIComponent(parsed.password) }),
    ...(db && { db: Number(db) }),
    // Node checks the certificate against `host` (ioredis passes it to `tls.connect`).
    ...(tls && { tls: settings.tlsCa !== undefined ? { ca: settings.tlsCa } : {} }),
  };
}
