import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { RateLimitedError } from '@app/common';
import { redisOptions } from '@app/queue';
import { API_KEYS_OPTIONS, type ApiKeysModuleOptions } from './api-keys.options.js';

/** How long Redis is given per request before the limit is skipped for that request. */
const REDIS_TIMEOUT_MS = 200;

/**
 * `API_RATE_LIMIT` per API key, counted in Redis so that every instance of the app draws on the
 * same budget: `rate-limiter-flexible`'s `RateLimiterRedis` (a fixed window per key id, one atomic
 * Lua script per request; the mailer's send rates use the same library on the same client).
 *
 * Fails open: when Redis does not answer, the request goes through. The limit protects the
 * service from a runaway client; refusing every request while Redis is away would turn a Redis
 * outage into an API outage, and the keys themselves (checked against PostgreSQL) still stand.
 * Each outage is logged once, when it starts, and again when Redis is back.
 */
@Injectable()
export class ApiRateLimiter implements OnApplicationShutdown {
  private readonly logger = new Logger('ApiRateLimit');
  private readonly redis: Redis;
  private readonly limiter: RateLimiterRedis;
  private failingOpen = false;
  /** Requests let through because Redis did not answer (since start). */
  skipped = 0;

  constructor(@Inject(API_KEYS_OPTIONS) options: ApiKeysModuleOptions) {
    // No offline queue, one try, a short timeout: a request never waits for Redis to come back.
    this.redis = new Redis({ ...redisOptions(options.rateLimit.redisUrl, { tlsCa: options.rateLimit.redisTlsCa }), enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: REDIS_TIMEOUT_MS, lazyConnect: false });
    this.redis.on('error', () => undefined); // surfaces as a skipped limit, logged in consume()
    this.limiter = new RateLimiterRedis({
      storeClient: this.redis,
      keyPrefix: options.rateLimit.keyPrefix,
      points: options.rateLimit.rate.points,
      duration: options.rateLimit.rate.durationSeconds,
      rejectIfRedisNotReady: true,
    });
  }

  /** Counts one request of `keyId`; throws {@link RateLimitedError} when its budget is spent. */
  async consume(keyId: string): Promise<void> {
    try {
      await this.limiter.consume(keyId);
      if (this.failingOpen) {
        this.failingOpen = false;
        this.logger.log(`Redis answers again: the per-key rate limit applies (${this.skipped} requests went unlimited)`);
      }
    } catch (outcome: unknown) {
      if (outcome instanceof RateLimiterRes) {
        throw new RateLimitedError('this API key sent too many requests; retry later', Math.max(1, Math.ceil(outcome.msBeforeNext / 1000)));
      }
      this.skipped++;
      if (!this.failingOpen) {
        this.failingOpen = true;
        this.logger.warn(`Redis does not answer: the per-key rate limit is skipped until it does (${outcome instanceof Error ? outcome.message : String(outcome)})`);
      }
    }
  }

  onApplicationShutdown(): void {
    this.redis.disconnect();
  }
}
