import type { FieldError } from '@app/common';
import { attachmentBytes, isSenderDomainAllowed, type EmailRequest } from '@app/contracts';

/** What this deployment lets a request carry beyond the schema (`senderDomains`, `maxAttachmentBytes`). */
export interface ContentPolicy {
  /** Domains `from` may use, lower-cased; empty: no `from` at all (the mailer's default sender only). */
  senderDomains: readonly string[];
  /** Largest total of the attachments, in decoded bytes. */
  maxAttachmentBytes: number;
}

/**
 * The refusals of a request the schema accepted, as field errors (HTTP 400): a `from` outside the
 * sender domains, attachments over the size limit. Costs nothing for a request without either.
 * The mailer checks the sender again (`MAIL_SENDER_DOMAINS`); the Kafka message size
 * (`maxMessageBytes`, 413) is checked after this, and has the last word.
 */
export function contentPolicyErrors(request: EmailRequest, policy: ContentPolicy): FieldError[] {
  const errors: FieldError[] = [];
  if (request.from && !isSenderDomainAllowed(request.from.address, policy.senderDomains)) {
    errors.push({
      path: 'from',
      message:
        policy.senderDomains.length === 0
          ? 'no sender domains are configured: leave `from` out to send from the default sender'
          : `must be an address in one of the sender domains (${policy.senderDomains.join(', ')})`,
    });
  }
  if (request.attachments) {
    const bytes = attachmentBytes(request.attachments);
    if (bytes > policy.maxAttachmentBytes) {
      errors.push({ path: 'attachments', message: `${bytes} bytes in all, more than the limit of ${policy.maxAttachmentBytes} bytes` });
    }
  }
  return errors;
}
