import { z } from 'zod';
import { MIN_BOOTSTRAP_KEY_LENGTH, hashApiKey } from './api-key.secret.js';

/**
 * A config field of bootstrap keys (`BUSINESS_API_KEYS`, `MAILER_API_KEYS`): comma-separated,
 * each at least {@link MIN_BOOTSTRAP_KEY_LENGTH} characters; parsed into their SHA-256 hashes so
 * the keys themselves are never held past configuration. An error names the variable (zod's
 * path) and the position, never the value.
 */
export function bootstrapApiKeysSchema() {
  return z
    .string()
    .optional()
    .transform((csv, ctx) => {
      const keys = (csv ?? '').split(',').map((k) => k.trim()).filter(Boolean);
      keys.forEach((key, index) => {
        if (key.length < MIN_BOOTSTRAP_KEY_LENGTH) {
          ctx.addIssue({ code: 'custom', message: `key ${index + 1} is shorter than ${MIN_BOOTSTRAP_KEY_LENGTH} characters (use e.g. \`openssl rand -base64 32\`)` });
        }
      });
      return keys.map(hashApiKey) as readonly string[];
    });
}
