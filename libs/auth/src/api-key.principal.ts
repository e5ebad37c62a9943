import type { Scope } from './scopes.js';

/**
 * The caller of a request, as the API-key guard established it. Controllers read it with
 * `@CurrentApiKey()`; nothing else about the key (its hash, let alone the key) leaves the guard.
 */
export interface ApiKeyPrincipal {
  /** The key's id (`bootstrap:<n>` for a key from configuration, which has no row). */
  readonly id: string;
  readonly name: string;
  readonly scopes: ReadonlySet<Scope>;
  /**
   * Sender domains this key may use in `from` (lower case); `undefined` means every domain the
   * deployment allows (`MAIL_SENDER_DOMAINS`).
   */
  readonly senderDomains?: readonly string[];
}
