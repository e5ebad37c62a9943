import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Redis } from 'ioredis';
import { redisOptions } from '@app/queue';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Lane } from '@app/contracts';
import { MAILER_CONFIG, type MailerConfig } from '../config.js';
import type { Rate } from '@app/common';

/**
 * The send rates of `RATE_LIMIT_GLOBAL` and `RATE_LIMIT_DOMAINS`, counted in Redis so that every
 * mailer instance draws on the same budget. `rate-limiter-flexible` keeps each counter (a fixed
 * window: one key per limit, incremented and given its expiry by one Lua script, so it is atomic
 * across instances) and says how long until the window frees up; it is well kept, has no
 * dependencies and works on the ioredis client BullMQ already uses. BullMQ's own limiter was not
 * enough: it limits one queue (one lane) as a whole, with no per-domain budget.
 *
 * Invariants:
 * - With no limit configured nothing is created and {@link delayFor} is never asked (`enabled`):
 *   the send path costs nothing more.
 * - A reservation is taken before an attempt starts; an email that must wait is not an attempt
 *   (PostgreSQL's count does not move) and never fails for waiting.
 * - Domain budgets are asked before the global one, so an email held back by its domain does not
 *   use up the global budget other domains could use.
 * - Bulk mail may use only `RATE_LIMIT_BULK_SHARE` of each budget (a second counter it passes
 *   first), so a bulk backlog can never take the whole rate from transactional mail, and bulk
 *   emails waiting in line do not push transactional ones further back in theirs.
 */
@Injectable()
export class SendRateLimiter implements OnModuleInit, OnApplicationShutdown {
  private redis?: Redis;
  private global?: Limit;
  private readonly domains = new Map<string, Limit>();

  constructor(@Inject(MAILER_CONFIG) private readonly config: MailerConfig) {}

  /** Whether any limit is configured. */
  get enabled(): boolean {
    return this.config.RATE_LIMIT_GLOBAL !== undefined || this.config.RATE_LIMIT_DOMAINS.size > 0;
  }

  /** Whether some recipient domains have a budget of their own (the send job then carries the email's domains). */
  get limitsDomains(): boolean {
    return this.config.RATE_LIMIT_DOMAINS.size > 0;
  }

  onModuleInit(): void {
    if (!this.enabled) return;
    // Commands wait for a reconnect rather than failing at once; a send job that cannot reserve
    // fails as any job does while Redis is away, and BullMQ retries it.
    this.redis = new Redis({ ...redisOptions(this.config.REDIS_URL, { tlsCa: this.config.REDIS_TLS_CA }), maxRetriesPerRequest: 3, enableOfflineQueue: true });
    this.redis.on('error', () => undefined); // surfaces as a failed reservation, and in /health/ready through the queue
    const prefix = `${this.config.QUEUE_PREFIX}:send-rate`;
    const bulkShare = this.config.RATE_LIMIT_BULK_SHARE;
    if (this.config.RATE_LIMIT_GLOBAL) this.global = new Limit(this.redis, `${prefix}:global`, this.config.RATE_LIMIT_GLOBAL, bulkShare);
    for (const [domain, rate] of this.config.RATE_LIMIT_DOMAINS) this.domains.set(domain, new Limit(this.redis, `${prefix}:domain`, rate, bulkShare, domain));
  }

  /**
   * Takes one send of `lane` from the budget of each limited domain among `domains` and from the
   * global one; resolves with 0 when the email may go now, or with how many milliseconds it
   * should wait before asking again.
   */
  async delayFor(lane: Lane, domains: readonly string[]): Promise<number> {
    const limited = domains.map((d) => this.domains.get(d)).filter((limit): limit is Limit => limit !== undefined);
    const domainWaits = await Promise.all(limited.map((limit) => limit.take(lane)));
    const domainWait = Math.max(0, ...domainWaits);
    if (domainWait > 0) return domainWait;
    return this.global ? this.global.take(lane) : 0;
  }

  onApplicationShutdown(): void {
    // Not quit(): with Redis away it would wait for a reconnect; the counters need no goodbye.
    this.redis?.disconnect();
  }
}

/** One budget (a rate on one Redis key), and the share of it bulk mail may use (a second key). */
class Limit {
  private readonly all: RateLimiterRedis;
  private readonly bulk?: { limiter: RateLimiterRedis; points: number };

  constructor(
    redis: Redis,
    keyPrefix: string,
    private readonly rate: Rate,
    bulkShare: number,
    private readonly key = 'all',
  ) {
    this.all = new RateLimiterRedis({ storeClient: redis, keyPrefix, points: rate.points, duration: rate.durationSeconds });
    const bulkPoints = Math.max(1, Math.floor(rate.points * bulkShare));
    if (bulkPoints < rate.points) {
      this.bulk = {
        limiter: new RateLimiterRedis({ storeClient: redis, keyPrefix: `${keyPrefix}:bulk`, points: bulkPoints, duration: rate.durationSeconds }),
        points: bulkPoints,
      };
    }
  }

  /** 0 when a send of `lane` was taken from the budget; otherwise how long to wait (see {@link waitAfter}). */
  async take(lane: Lane): Promise<number> {
    if (lane === 'bulk' && this.bulk) {
      const bulkWait = await this.waitAfter(this.bulk.limiter, this.bulk.points);
      if (bulkWait > 0) return bulkWait;
    }
    return this.waitAfter(this.all, this.rate.points);
  }

  /**
   * A refused take still counts in the window (the library increments before it compares), which
   * tells this email its place in the line: the n-th refused email waits n / points windows more,
   * plus a random part of one, so a long backlog comes back a window's worth at a time instead of
   * all at once at every window.
   */
  private async waitAfter(limiter: RateLimiterRedis, points: number): Promise<number> {
    try {
      await limiter.consume(this.key);
      return 0;
    } catch (refusal) {
      if (!(refusal instanceof RateLimiterRes)) throw refusal; // Redis failed: not a verdict
      const windowMs = this.rate.durationSeconds * 1_000;
      const placeInLine = Math.max(0, refusal.consumedPoints - points - 1);
      const windowsAhead = Math.floor(placeInLine / points);
      return Math.max(1, refusal.msBeforeNext) + windowsAhead * windowMs + Math.floor(Math.random() * windowMs);
    }
  }
}
