import { afterEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { loadMailerConfig } from '../config.js';
import { SendRateLimiter } from './send-rate-limiter.js';

/** Two limiters (as in two mailer instances) on the real Redis, sharing one budget under a unique prefix. */
describe('SendRateLimiter (Redis)', () => {
  const limiters: SendRateLimiter[] = [];

  afterEach(() => {
    for (const limiter of limiters.splice(0)) limiter.onApplicationShutdown();
  });

  function instances(env: Record<string, string>, count = 2): SendRateLimiter[] {
    const config = loadMailerConfig({
      MAILER_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/unused',
      KAFKA_BROKERS: '127.0.0.1:9092',
      REDIS_URL: 'redis://127.0.0.1:6379',
      SMTP_URL: 'smtp://127.0.0.1:2525',
      QUEUE_PREFIX: `rate-int-${randomBytes(4).toString('hex')}`,
      ...env,
    });
    const created = Array.from({ length: count }, () => new SendRateLimiter(config));
    for (const limiter of created) limiter.onModuleInit();
    limiters.push(...created);
    return created;
  }

  it('is off, creating nothing, when no rate is configured', () => {
    const [limiter] = instances({}, 1);
    expect(limiter!.enabled).toBe(false);
  });

  it('lets exactly the global budget through across both instances, and tells the rest to wait less than two windows', async () => {
    const [a, b] = instances({ RATE_LIMIT_GLOBAL: '5/m' });
    const waits = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? a! : b!).delayFor('transactional', [])));
    expect(waits.filter((w) => w === 0)).toHaveLength(5);
    for (const wait of waits.filter((w) => w > 0)) {
      expect(wait).toBeGreaterThan(0);
      // The refused ones queue up by their place in line: the first 5 within the next window, the rest one window later.
      expect(wait).toBeLessThanOrEqual(3 * 60_000);
    }
    const lineWaits = waits.filter((w) => w > 0).sort((x, y) => x - y);
    expect(lineWaits.at(-1)!).toBeGreaterThan(60_000); // the 6th and 7th refused are a window further back
  });

  it('holds a limited domain back without using the global budget, and lets other domains through', async () => {
    const [a, b] = instances({ RATE_LIMIT_GLOBAL: '3/m', RATE_LIMIT_DOMAINS: 'slow.example:1/m' });
    expect(await a!.delayFor('transactional', ['slow.example'])).toBe(0);
    expect(await b!.delayFor('transactional', ['slow.example'])).toBeGreaterThan(0);
    expect(await a!.delayFor('transactional', ['slow.example', 'fast.example'])).toBeGreaterThan(0); // any limited recipient holds the email
    // Global budget 3: one went to slow.example, the two refusals took none of it.
    expect(await b!.delayFor('transactional', ['fast.example'])).toBe(0);
    expect(await a!.delayFor('transactional', ['fast.example'])).toBe(0);
    expect(await b!.delayFor('transactional', ['fast.example'])).toBeGreaterThan(0);
  });

  it('lets bulk mail use only its share of a budget, keeping the rest for transactional mail, whose place in line bulk does not take', async () => {
    const [a, b] = instances({ RATE_LIMIT_GLOBAL: '10/m', RATE_LIMIT_BULK_SHARE: '0.5' });
    const bulk = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a! : b!).delayFor('bulk', [])));
    expect(bulk.filter((w) => w === 0)).toHaveLength(5);
    // The other half of the budget is still there for transactional mail, after a bulk backlog of 15 was refused.
    const transactional = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? a! : b!).delayFor('transactional', [])));
    expect(transactional.filter((w) => w === 0)).toHaveLength(5);
    // The one transactional email over the budget is first in its line: it waits for the next window only.
    expect(transactional.find((w) => w > 0)!).toBeLessThanOrEqual(2 * 60_000);
  });
});
