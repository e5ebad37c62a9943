import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { makeTestCertificates, type TestCertificates } from '@app/testing';
import { PrivateRedis } from '../../../test/infra/private-redis.js';
import { bullConnection } from './ensure-job.js';
import { redisOptions } from './redis-connection.js';

const PASSWORD = 'redis-secret-4b7f/:@';

/** A client that gives up at once; a refusal rejects with the error ioredis reported (its `error` event). */
async function ping(url: string, tlsCa?: string): Promise<string> {
  const redis = new Redis({ ...redisOptions(url, { tlsCa }), lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  const reported: Error[] = [];
  redis.on('error', (error: Error) => reported.push(error));
  try {
    await redis.connect();
    return await redis.ping();
  } catch (error) {
    throw reported[0] ?? error;
  } finally {
    redis.disconnect();
  }
}

async function failure(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => expect.fail('Redis accepted the client'),
    (e: unknown) => e as Error,
  );
  const text = `${error.message} ${JSON.stringify(error)}`;
  expect(text).not.toContain(PASSWORD);
  expect(text).not.toContain(encodeURIComponent(PASSWORD));
  return text;
}

/** `REDIS_URL` credentials and `rediss://` against private redis-server processes. */
describe('Redis connections with a password and TLS (Redis)', () => {
  let certs: TestCertificates;
  const plain = new PrivateRedis({ password: PASSWORD });
  let tls: PrivateRedis;

  beforeAll(async () => {
    certs = makeTestCertificates();
    tls = new PrivateRedis({ password: PASSWORD, tls: { certFile: certs.certFile, keyFile: certs.keyFile, caFile: certs.caFile } });
    await Promise.all([plain.start(), tls.start()]);
  });

  afterAll(async () => {
    await Promise.all([plain.stop(), tls?.stop()]);
    certs?.remove();
  });

  it('authenticates with the password in the URL, percent-encoded, for ioredis and BullMQ alike', async () => {
    const url = `redis://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${plain.port}/0`;
    expect(await ping(url)).toBe('PONG');
    const queue = new Queue('transport-security', { connection: bullConnection(url), prefix: 'transport-security' });
    try {
      await queue.add('job', { n: 1 });
      expect(await queue.count()).toBe(1);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('refuses a wrong or missing password without echoing it', async () => {
    expect(await failure(ping(`redis://:wrong@127.0.0.1:${plain.port}`))).toMatch(/WRONGPASS|invalid/i);
    expect(await failure(ping(`redis://127.0.0.1:${plain.port}`))).toMatch(/NOAUTH/);
  });

  it('connects over TLS (rediss://), verifying the server against the private CA', async () => {
    expect(await ping(`rediss://:${encodeURIComponent(PASSWORD)}@localhost:${tls.port}`, certs.ca)).toBe('PONG');
  });

  it('refuses a server whose certificate no trusted CA signed, and plaintext to a TLS port', async () => {
    const url = `rediss://:${encodeURIComponent(PASSWORD)}@localhost:${tls.port}`;
    expect(await failure(ping(url))).toMatch(/certificate|self[- ]signed|verify/i);
    await failure(ping(url.replace('rediss:', 'redis:')));
  });

  it('will not take a CA for a redis:// URL (it would never be used)', () => {
    expect(() => redisOptions('redis://127.0.0.1:6379', { tlsCa: certs.ca })).toThrow(/rediss/);
  });
});
