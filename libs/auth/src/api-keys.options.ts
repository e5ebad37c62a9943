import type { Rate } from '@app/common';

export const API_KEYS_OPTIONS = Symbol('API_KEYS_OPTIONS');

/** What `ApiKeysModule.forRoot()` needs from its host app (parsed from its config). */
export interface ApiKeysModuleOptions {
  /** The host's name, for log lines (`business`, `mailer`). */
  app: string;
  /** SHA-256 hashes of the keys from configuration (see `bootstrapApiKeysSchema`): never the keys. */
  bootstrapKeyHashes: readonly string[];
  /** The variable those keys come from, named in the start-up line when there is no key at all. */
  bootstrapKeysVariable: string;
  /** Requests per key, counted in Redis across every instance of the app. */
  rateLimit: { redisUrl: string; redisTlsCa?: string | undefined; keyPrefix: string; rate: Rate };
  /**
   * How long a key found valid is trusted without asking the database again; a key revoked on
   * another instance keeps working here at most this long. Default {@link DEFAULT_KEY_CACHE_TTL_MS}.
   */
  cacheTtlMs?: number;
}

/** Five seconds: at most one key lookup per key and instance every 5 s, and a revocation everywhere within 5 s. */
export const DEFAULT_KEY_CACHE_TTL_MS = 5_000;
