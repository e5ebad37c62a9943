import { createHash } from 'node:crypto';
import type { EmailRequest } from '@app/contracts';

/**
 * A stable fingerprint of a request, to tell "the same request again" from "another request
 * with the same Idempotency-Key". Keys are sorted so property order does not matter.
 */
export function requestHash(request: EmailRequest): string {
  return createHash('sha256').update(canonicalJson(request)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
