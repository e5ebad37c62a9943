import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimitedError } from '@app/common';
import { makeTestCertificates, waitFor, type TestCertificates } from '@app/testing';
import { PrivateRedis } from '../../../test/infra/private-redis.js';
import { ApiRateLimiter } from './api-rate-limiter.js';

const PASSWORD = 'limiter-secret-9c2e';

/**
 * The per-key limit on a `rediss://` Redis with a private CA and a password, as production runs
 * it: the limiter must count there (a limiter that cannot connect fails open and limits nothing).
 */
describe('ApiRateLimiter over TLS (Redis)', () => {
  let certs: TestCertificates;
  let redis: PrivateRedis;
  let limiter: ApiRateLimiter | undefined;

  beforeAll(async () => {
    certs = makeTestCertificates();
    redis = new PrivateRedis({ password: PASSWORD, tls: { certFile: certs.certFile, keyFile: certs.keyFile, caFile: certs.caFile } });
    await redis.start();
  });

  afterAll(async () => {
    await limiter?.onApplicationShutdown();
    await redis?.stop();
    certs?.remove();
  });

  it('refuses the third request of a 2/m key, counted in the TLS Redis, and never fails open', async () => {
    limiter = new ApiRateLimiter({
      app: 'test',
      bootstrapKeyHashes: [],
      bootstrapKeysVariable: 'TEST_API_KEYS',
      rateLimit: {
        redisUrl: `rediss://:${PASSWORD}@localhost:${redis.port}`,
        redisTlsCa: certs.ca,
        keyPrefix: `tls-limit-${Date.now()}`,
        rate: { points: 2, durationSeconds: 60 },
      },
    });
    const connected = limiter;
    // The client connects in the background; until it is up every request is let through (counted as skipped).
    await waitFor(
      async () => {
        const skipped = connected.skipped;
        await connected.consume('warm-up');
        return connected.skipped === skipped ? true : undefined;
      },
      { timeoutMs: 10_000, description: 'the limiter to reach Redis over TLS' },
    );
    const skippedBefore = limiter.skipped;
    await limiter.consume('key-1');
    await limiter.consume('key-1');
    await expect(limiter.consume('key-1')).rejects.toBeInstanceOf(RateLimitedError);
    expect(limiter.skipped).toBe(skippedBefore);
  });
});
