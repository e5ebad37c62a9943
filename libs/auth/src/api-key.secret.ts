import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** What every generated key starts with: a scanner (GitHub secret scanning, gitleaks) can find leaked ones. */
export const API_KEY_PREFIX = 'el_live_';
/** Characters of a key shown in lists and logs (`el_live_ab12`): enough to tell keys apart, useless to an attacker. */
export const API_KEY_DISPLAY_LENGTH = 12;
/** Shortest key accepted from configuration (`BUSINESS_API_KEYS`, `MAILER_API_KEYS`). */
export const MIN_BOOTSTRAP_KEY_LENGTH = 24;

/** A new key: `el_live_` and 32 random bytes (256 bits) in base64url. */
export function generateApiKey(): string {
  return API_KEY_PREFIX + randomBytes(32).toString('base64url');
}

/**
 * SHA-256 of the whole key, hex. A fast hash is right here, unlike for passwords: a generated key
 * carries 256 random bits, so no dictionary or brute force over the hash can find it, and a slow
 * hash (bcrypt, scrypt) would only cost CPU on every request. (A bootstrap key from configuration
 * is at least 24 characters the operator chose: the doc asks for random ones.)
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** The part of a key shown in lists (`el_live_ab12`). */
export function displayPrefix(key: string): string {
  return key.slice(0, API_KEY_DISPLAY_LENGTH);
}

/** Whether two hex hashes are equal, in time independent of where they differ. */
export function hashesEqual(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && timingSafeEqual(left, right);
}
