import { Inject, Injectable, Logger } from '@nestjs/common';
import { API_KEY_PREFIX, hashApiKey, hashesEqual } from './api-key.secret.js';
import type { ApiKeyPrincipal } from './api-key.principal.js';
import { API_KEYS_OPTIONS, DEFAULT_KEY_CACHE_TTL_MS, type ApiKeysModuleOptions } from './api-keys.options.js';
import { ApiKeysRepository, type ApiKeyRecord } from './api-keys.repository.js';
import { SCOPES } from './scopes.js';

/** Longer than any key we issue or accept: a bigger header is refused before it is hashed. */
const MAX_KEY_LENGTH = 512;
/** Bounds the in-memory maps, so a flood of distinct keys cannot grow them without limit. */
const MAX_CACHED_KEYS = 10_000;
/** `last_used_at` is written at most this often per key and instance (and the SQL bounds it across instances). */
const TOUCH_INTERVAL_MS = 60_000;

/**
 * Turns a bearer key into the principal it stands for, or `undefined`.
 *
 * Invariants:
 * - Only hashes are compared, always with `timingSafeEqual`: bootstrap keys (configuration) are
 *   held as hashes, stored keys are found by the unique index on their hash.
 * - A valid stored key is trusted for at most `cacheTtlMs` (default 5 s) without asking the
 *   database again; that is how long a revocation on another instance takes to reach this one
 *   (on the instance that revoked, {@link forget} makes it immediate). Invalid keys are never
 *   cached, so a key created a moment ago works at once.
 * - Recording `last_used_at` happens after the request's check, off its path, and a failure is
 *   logged (once a minute) and never fails the request.
 */
@Injectable()
export class ApiKeyAuthenticator {
  private readonly logger = new Logger('ApiKeys');
  private readonly cache = new Map<string, { principal: ApiKeyPrincipal; until: number }>();
  private readonly touchedAt = new Map<string, number>();
  private lastTouchFailureLog = 0;
  private readonly ttlMs: number;

  constructor(
    @Inject(API_KEYS_OPTIONS) private readonly options: ApiKeysModuleOptions,
    private readonly keys: ApiKeysRepository,
  ) {
    this.ttlMs = options.cacheTtlMs ?? DEFAULT_KEY_CACHE_TTL_MS;
  }

  async authenticate(key: string): Promise<ApiKeyPrincipal | undefined> {
    if (key.length === 0 || key.length > MAX_KEY_LENGTH) return undefined;
    const hash = hashApiKey(key);
    const bootstrap = this.bootstrapPrincipal(hash);
    if (bootstrap) return bootstrap;
    // Every stored key was generated with the prefix: anything else cannot be one, no query needed.
    if (!key.startsWith(API_KEY_PREFIX)) return undefined;
    const now = Date.now();
    const cached = this.cache.get(hash);
    if (cached && cached.until > now) {
      this.recordUse(cached.principal.id, now);
      return cached.principal;
    }
    this.cache.delete(hash);
    const row = await this.keys.findByHash(hash);
    if (!row || !hashesEqual(row.hash, hash) || row.revokedAt !== null) return undefined;
    const principal = toPrincipal(row);
    if (this.cache.size >= MAX_CACHED_KEYS) this.cache.clear();
    this.cache.set(hash, { principal, until: now + this.ttlMs });
    this.recordUse(principal.id, now);
    return principal;
  }

  /** Drops a revoked key from this instance's cache, so it stops working here at once. */
  forget(id: string): void {
    for (const [hash, entry] of this.cache) if (entry.principal.id === id) this.cache.delete(hash);
  }

  /** Whether configuration holds any key (for the start-up line). */
  get hasBootstrapKeys(): boolean {
    return this.options.bootstrapKeyHashes.length > 0;
  }

  private bootstrapPrincipal(hash: string): ApiKeyPrincipal | undefined {
    let match = -1;
    // Every hash is compared, so the time taken does not say which one matched.
    this.options.bootstrapKeyHashes.forEach((candidate, index) => {
      if (hashesEqual(candidate, hash) && match === -1) match = index;
    });
    if (match === -1) return undefined;
    return { id: `bootstrap:${match + 1}`, name: `${this.options.bootstrapKeysVariable} #${match + 1}`, scopes: new Set(SCOPES) };
  }

  private recordUse(id: string, now: number): void {
    if (now - (this.touchedAt.get(id) ?? 0) < TOUCH_INTERVAL_MS) return;
    if (this.touchedAt.size >= MAX_CACHED_KEYS) this.touchedAt.clear();
    this.touchedAt.set(id, now);
    setImmediate(() => {
      this.keys.touch(id).catch((error: unknown) => {
        if (now - this.lastTouchFailureLog < TOUCH_INTERVAL_MS) return;
        this.lastTouchFailureLog = now;
        this.logger.warn(`could not record the use of API key ${id}: ${error instanceof Error ? error.message : String(error)}`);
      });
    });
  }
}

function toPrincipal(row: ApiKeyRecord): ApiKeyPrincipal {
  return {
    id: row.id,
    name: row.name,
    scopes: new Set(row.scopes),
    ...(row.senderDomains !== null && { senderDomains: row.senderDomains }),
  };
}
