import { createHash } from 'node:crypto';
import { canonicalJson } from '@app/common';
import type { EmailRequest } from '@app/contracts';

/**
 * A stable fingerprint of a request, to tell "the same request again" from "another request
 * with the same Idempotency-Key". Keys are sorted so property order does not matter.
 */
export function requestHash(request: EmailRequest): string {
  return createHash('sha256').update(canonicalJson(request)).digest('hex');
}

