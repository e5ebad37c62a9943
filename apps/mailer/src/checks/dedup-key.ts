import { createHash } from 'node:crypto';
import { canonicalJson } from '@app/common';
import type { EmailRequestedMessage } from '@app/contracts';
import { addressKey, recipientsOf } from './mail-check.js';

/**
 * Fields that identify one request rather than its content: two requests that differ only in
 * these are "the same email". Every other field is content, so fields that later versions add
 * (`template` and its `data`, attachments, `from`) take part without a change here.
 */
const NOT_CONTENT = new Set([
  'version',
  'type',
  'emailId',
  'requestedAt',
  'expiresAt',
  'sendAt',
  'metadata',
  'tags',
  'lane',
  'to',
  'cc',
  'bcc',
  // Signed per email (it names the email id): content-like, but different on every copy.
  'unsubscribeUrl',
]);

/**
 * The dedup fingerprint of a request: its category, its recipients (case-insensitive, in any
 * order, wherever they are listed) and its content, hashed (SHA-256) so the key has a fixed size.
 */
export function dedupKey(request: EmailRequestedMessage): string {
  const content = Object.fromEntries(Object.entries(request).filter(([field]) => !NOT_CONTENT.has(field)));
  const recipients = [...new Set(recipientsOf(request).map(addressKey))].sort();
  return createHash('sha256').update(canonicalJson({ recipients, content })).digest('hex');
}

